"""Configuration from the environment (12-factor), with safe development defaults."""

import os
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def database_url(raw: str | None) -> str:
    """Normalise DATABASE_URL for SQLAlchemy and the psycopg 3 driver.

    Heroku-style platforms still hand out ``postgres://``, which SQLAlchemy 2 refuses.
    """
    if not raw:
        return f"sqlite:///{BASE_DIR / 'instance' / 'dev.sqlite3'}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def engine_options(url: str, options: dict) -> dict:
    """SQLAlchemy engine options for `url`: on PostgreSQL, sessions run with JIT off.

    The inbox's queries are short and index-driven; JIT compiled a deep page's plan for ~37 ms to
    save a few (issue 14's measurement), and only planner estimates decide when it kicks in.
    """
    if not url.startswith("postgresql"):
        return options
    return {**options, "connect_args": {"options": "-c jit=off", **options.get("connect_args", {})}}


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# GHL's RSA key for x-wh-signature, from its Webhook Authentication guide (specs/ghl/WebhookAuthentication.md).
GHL_RSA_PUBLIC_KEY = (
    "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAokvo/r9tVgcfZ5DysOSC"
    "Frm602qYV0MaAiNnX9O8KxMbiyRKWeL9JpCpVpt4XHIcBOK4u3cLSqJGOLaPuXw6"
    "dO0t6Q/ZVdAV5Phz+ZtzPL16iCGeK9po6D6JHBpbi989mmzMryUnQJezlYJ3DVfB"
    "csedpinheNnyYeFXolrJvcsjDtfAeRx5ByHQmTnSdFUzuAnC9/GepgLT9SM4nCpv"
    "uxmZMxrJt5Rw+VUaQ9B8JSvbMPpez4peKaJPZHBbU3OdeCVx5klVXXZQGNHOs8gF"
    "3kvoV5rTnXV0IknLBXlcKKAQLZcY/Q9rG6Ifi9c+5vqlvHPCUJFT5XUGG5RKgOKU"
    "J062fRtN+rLYZUV+BjafxQauvC8wSWeYja63VSUruvmNj8xkx2zE/Juc+yjLjTXp"
    "IocmaiFeAO6fUtNjDeFVkhf5LNb59vECyrHD2SQIrhgXpO4Q3dVNA5rw576PwTzN"
    "h/AMfHKIjE4xQA1SZuYJmNnmVZLIZBlQAF9Ntd03rfadZ+yDiOXCCs9FkHibELhC"
    "HULgCsnuDJHcrGNd5/Ddm5hxGQ0ASitgHeMZ0kcIOwKDOzOU53lDza6/Y09T7sYJ"
    "PQe7z0cvj7aE4B+Ax1ZoZGPzpJlZtGXCsu9aTEGEnKzmsFqwcSsnw3JB31IGKAyk"
    "T1hhTiaCeIY/OwwwNUY2yvcCAwEAAQ=="
)


BROKER_SOCKET_TIMEOUT_SECONDS = 2


def app_env() -> str:
    """production, development (or test): explicit APP_ENV, else production wherever DATABASE_URL is set."""
    return os.environ.get("APP_ENV") or ("production" if os.environ.get("DATABASE_URL") else "development")


class Config:
    APP_ENV = app_env()  # production refuses to start without real keys (app/startup.py)
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    # hide_parameters: a failed statement's bound values (visitor tokens, search text, phone numbers)
    # never reach an exception message or a log line.
    SQLALCHEMY_ENGINE_OPTIONS = {"hide_parameters": True}
    # A pooled connection idle this long is pinged before reuse (app/db_connections.py); not one
    # handed back a moment ago, which would cost every request and transaction a round trip.
    DATABASE_PING_AFTER_IDLE_SECONDS = float(os.environ.get("DATABASE_PING_AFTER_IDLE_SECONDS", "1"))
    REDIS_URL = os.environ.get("REDIS_URL")  # unset: tasks run in-process, limits in memory
    # Comma-separated Fernet keys, newest first (MultiFernet encrypts with the first).
    ENCRYPTION_KEYS = os.environ.get("ENCRYPTION_KEYS", "")
    # How long a signed media link (GET /api/v1/messages/:id/media/:n/link) lets a player stream without a token.
    MEDIA_LINK_SECONDS = int(os.environ.get("MEDIA_LINK_SECONDS", "900"))
    # Uploads: how long their public URL (handed to providers with a send) works, and where they live.
    UPLOAD_PUBLIC_SECONDS = int(os.environ.get("UPLOAD_PUBLIC_SECONDS", str(7 * 24 * 3600)))
    UPLOAD_REQUEST_MAX_BYTES = int(os.environ.get("UPLOAD_REQUEST_MAX_BYTES", str(25 * 1024 * 1024)))
    STORAGE_S3_BUCKET = os.environ.get("STORAGE_S3_BUCKET") or None  # unset: files in PostgreSQL
    STORAGE_S3_ENDPOINT_URL = os.environ.get("STORAGE_S3_ENDPOINT_URL") or None  # MinIO, R2...
    STORAGE_S3_REGION = os.environ.get("STORAGE_S3_REGION") or None
    # Proxies in front of the app whose X-Forwarded-* headers we trust (Heroku's router: set 1). The
    # default trusts none: a client reaching gunicorn directly could otherwise fake its address
    # (and so its login throttle) with one header.
    PROXY_HOPS = _int("PROXY_HOPS", 0)
    # Refuse to start encrypting with a key derived from SECRET_KEY once this is set (production).
    REQUIRE_ENCRYPTION_KEYS = os.environ.get("REQUIRE_ENCRYPTION_KEYS", "").lower() in ("1", "true", "yes")

    # Check credentials with the provider before connecting a GHL location (see services/settings.py).
    REQUIRE_PROVIDER_VERIFICATION = os.environ.get("REQUIRE_PROVIDER_VERIFICATION", "true").lower() != "false"

    # Providers. Base URLs are configurable so staging and tests can point at a local fake.
    TWILIO_API_BASE_URL = os.environ.get("TWILIO_API_BASE_URL", "https://api.twilio.com")
    GHL_API_BASE_URL = os.environ.get("GHL_API_BASE_URL", "https://services.leadconnectorhq.com")
    GHL_CONVERSATIONS_VERSION = os.environ.get("GHL_CONVERSATIONS_VERSION", "2021-04-15")
    GHL_CONTACTS_VERSION = os.environ.get("GHL_CONTACTS_VERSION", "2021-07-28")
    PROVIDER_TIMEOUT_SECONDS = float(os.environ.get("PROVIDER_TIMEOUT_SECONDS", "10"))
    # Rate limits, shared by every worker through Redis. GHL publishes 100 requests / 10 s per
    # location; a Twilio long code sends about 1 message per second (a messaging service more).
    GHL_RATE_LIMIT = os.environ.get("GHL_RATE_LIMIT", "100/10 seconds")
    TWILIO_RATE_LIMIT = os.environ.get("TWILIO_RATE_LIMIT", "1/second")
    TWILIO_SERVICE_RATE_LIMIT = os.environ.get("TWILIO_SERVICE_RATE_LIMIT", "10/second")

    # The send pipeline.
    # A transient failure (5xx, connection refused) is retried after about 5, 10, 20, then at most
    # 30 s: a message is never more than ~30 s behind a provider that has recovered. Eight
    # attempts keep the whole window as long as it was with no cap and six (about 80 to 155 s)
    # before the message fails.
    SEND_MAX_ATTEMPTS = _int("SEND_MAX_ATTEMPTS", 8)
    SEND_BACKOFF_BASE_SECONDS = float(os.environ.get("SEND_BACKOFF_BASE_SECONDS", "5"))
    SEND_BACKOFF_MAX_SECONDS = float(os.environ.get("SEND_BACKOFF_MAX_SECONDS", "30"))
    # A send task takes its tenant's due messages (a webhook task its new events) one after another
    # for this long at most, then queues a successor at the back of the queue: other tenants wait
    # one turn at most.
    SEND_TURN_SECONDS = float(os.environ.get("SEND_TURN_SECONDS", "5"))
    SWEEP_GRACE_SECONDS = _int("SWEEP_GRACE_SECONDS", 30)  # pending and unclaimed this long: re-enqueue
    # Queued this long ago and still unclaimed: the task was lost (a duplicate is harmless: the claim).
    SWEEP_REQUEUE_AFTER_SECONDS = _int("SWEEP_REQUEUE_AFTER_SECONDS", 30)
    # Claimed this long ago with no outcome: its worker died; ask the provider whether it took it.
    # Must exceed the longest provider call (PROVIDER_TIMEOUT_SECONDS, per request).
    SEND_CLAIM_TIMEOUT_SECONDS = _int("SEND_CLAIM_TIMEOUT_SECONDS", 60)
    # After a send went unanswered: give the provider's own report (the status callback) this long
    # to arrive before asking the provider ourselves.
    RECONCILE_AFTER_SECONDS = _int("RECONCILE_AFTER_SECONDS", 30)
    STATUS_POLL_AFTER_SECONDS = _int("STATUS_POLL_AFTER_SECONDS", 600)  # sent, no final status: ask
    STATUS_POLL_GIVE_UP_SECONDS = _int("STATUS_POLL_GIVE_UP_SECONDS", 3 * 24 * 3600)
    # Webhooks. GHL signs with Ed25519 (X-GHL-Signature) and, on older deliveries, RSA-SHA256
    # (x-wh-signature); the defaults are GHL's published keys (base64 DER SubjectPublicKeyInfo).
    GHL_WEBHOOK_ED25519_PUBLIC_KEY = os.environ.get(
        "GHL_WEBHOOK_ED25519_PUBLIC_KEY", "MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg="
    )
    GHL_WEBHOOK_RSA_PUBLIC_KEY = os.environ.get("GHL_WEBHOOK_RSA_PUBLIC_KEY", GHL_RSA_PUBLIC_KEY)
    GHL_WEBHOOK_MAX_AGE_SECONDS = _int("GHL_WEBHOOK_MAX_AGE_SECONDS", 300)
    WEBHOOK_RETRY_AFTER_SECONDS = _int("WEBHOOK_RETRY_AFTER_SECONDS", 20)  # a failed or unqueued event is retried
    WEBHOOK_REQUEUE_AFTER_SECONDS = _int("WEBHOOK_REQUEUE_AFTER_SECONDS", 30)  # queued or taken, never finished
    WEBHOOK_MAX_ATTEMPTS = _int("WEBHOOK_MAX_ATTEMPTS", 5)
    SIMULATOR_DELAY_SECONDS = float(os.environ.get("SIMULATOR_DELAY_SECONDS", "2"))

    # Push notifications (app/push/). A backend without credentials is skipped (logged once).
    # APNs token auth: the .p8 key's contents (or a path to it), its key id, the team id, and the
    # app's bundle id as apns-topic (a device registered with its own bundle id uses that instead).
    APNS_AUTH_KEY = os.environ.get("APNS_AUTH_KEY")
    APNS_AUTH_KEY_PATH = os.environ.get("APNS_AUTH_KEY_PATH")
    APNS_KEY_ID = os.environ.get("APNS_KEY_ID")
    APNS_TEAM_ID = os.environ.get("APNS_TEAM_ID")
    APNS_TOPIC = os.environ.get("APNS_TOPIC")
    APNS_BASE_URL = os.environ.get("APNS_BASE_URL")  # unset: Apple's sandbox or production host per device
    APNS_CA_FILE = os.environ.get("APNS_CA_FILE")  # trust a stand-in's certificate
    # Apple refuses a provider token refreshed more often than every 20 minutes or older than an hour.
    APNS_TOKEN_REFRESH_SECONDS = _int("APNS_TOKEN_REFRESH_SECONDS", 40 * 60)
    # FCM HTTP v1: a service account's JSON (contents or path); the project id defaults to its own.
    FCM_CREDENTIALS = os.environ.get("FCM_CREDENTIALS")
    FCM_CREDENTIALS_PATH = os.environ.get("FCM_CREDENTIALS_PATH")
    FCM_PROJECT_ID = os.environ.get("FCM_PROJECT_ID")
    FCM_BASE_URL = os.environ.get("FCM_BASE_URL", "https://fcm.googleapis.com")
    PUSH_TIMEOUT_SECONDS = float(os.environ.get("PUSH_TIMEOUT_SECONDS", "10"))
    PUSH_COALESCE_SECONDS = float(
        os.environ.get("PUSH_COALESCE_SECONDS", "3")
    )  # a burst in one conversation: one alert
    PUSH_MAX_ATTEMPTS = _int("PUSH_MAX_ATTEMPTS", 5)
    PUSH_BACKOFF_BASE_SECONDS = float(os.environ.get("PUSH_BACKOFF_BASE_SECONDS", "2"))
    PUSH_BACKOFF_MAX_SECONDS = float(os.environ.get("PUSH_BACKOFF_MAX_SECONDS", "300"))

    # Web chat (the widget's public API, /widget/v1). Limits per client address apply to every
    # widget call; a visitor token has its own, tighter ones for writing.
    WIDGET_ADDRESS_RATE_LIMIT = os.environ.get("WIDGET_ADDRESS_RATE_LIMIT", "300 per minute")
    WIDGET_START_RATE_LIMIT = os.environ.get("WIDGET_START_RATE_LIMIT", "10 per minute")
    WIDGET_MESSAGE_RATE_LIMIT = os.environ.get("WIDGET_MESSAGE_RATE_LIMIT", "20 per minute")
    WIDGET_TYPING_RATE_LIMIT = os.environ.get("WIDGET_TYPING_RATE_LIMIT", "30 per minute")
    WIDGET_MAX_BODY_BYTES = _int("WIDGET_MAX_BODY_BYTES", 16 * 1024)
    # The demo page (/widget/demo) showing the widget on a sample site: development only.
    WIDGET_DEMO = os.environ.get("WIDGET_DEMO", "").lower() in ("1", "true", "yes")

    # Live events (app/live): how many events per tenant Last-Event-ID can replay, and for how long.
    LIVE_LOG_SIZE = _int("LIVE_LOG_SIZE", 1000)
    LIVE_LOG_TTL_SECONDS = _int("LIVE_LOG_TTL_SECONDS", 24 * 3600)
    LIVE_HEARTBEAT_SECONDS = float(os.environ.get("LIVE_HEARTBEAT_SECONDS", "15"))
    # A stream ends after this long (the client reconnects with Last-Event-ID), so no connection
    # outlives a proxy's limit and load spreads again after a deploy.
    LIVE_STREAM_MAX_SECONDS = float(os.environ.get("LIVE_STREAM_MAX_SECONDS", "1800"))

    # /admin signs in with a session cookie: Secure unless told otherwise (plain-http development).
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "true").lower() != "false"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = _int("ADMIN_SESSION_SECONDS", 8 * 3600)

    TOKEN_IDLE_DAYS = _int("TOKEN_IDLE_DAYS", 30)  # an API token unused this long stops working
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")  # per client address
    LOGIN_ACCOUNT_RATE_LIMIT = os.environ.get("LOGIN_ACCOUNT_RATE_LIMIT", "10 per minute;30 per hour")  # failures

    # Request body ceilings (413 beyond them, answered before the body is read; app/request_limits.py).
    # The largest genuine API body (1,600 characters, 10 media URLs, 16 KB of metadata) is well under 64 KB.
    API_MAX_BYTES = _int("API_MAX_BYTES", 64 * 1024)
    LOGIN_MAX_BYTES = _int("LOGIN_MAX_BYTES", 4 * 1024)
    TWILIO_WEBHOOK_MAX_BYTES = _int("TWILIO_WEBHOOK_MAX_BYTES", 64 * 1024)
    GHL_WEBHOOK_MAX_BYTES = _int("GHL_WEBHOOK_MAX_BYTES", 256 * 1024)
    MAX_CONTENT_LENGTH = 1024 * 1024  # the backstop for any route the limits above do not name
    RATELIMIT_HEADERS_ENABLED = True  # a throttled client gets Retry-After

    # flask-smorest / OpenAPI
    API_TITLE = "Conversations API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    # Swagger UI served from the swagger-ui-bundle package (app/api/docs.py): no CDN, works offline.
    OPENAPI_SWAGGER_UI_PATH = "docs"
    OPENAPI_SWAGGER_UI_URL = "/static/swagger-ui/"
    JSON_SORT_KEYS = False

    @property
    def PUBLIC_BASE_URL(self) -> str:  # noqa: N802 (Flask config key)
        """The URL providers call (Twilio signs it). Locally: this process's own PORT."""
        return os.environ.get("PUBLIC_BASE_URL") or f"http://localhost:{os.environ.get('PORT') or 5000}"

    @property
    def RATELIMIT_STORAGE_URI(self) -> str:  # noqa: N802 (Flask config key)
        return self.REDIS_URL or "memory://"

    # A frozen Redis must not hold a login request either.
    RATELIMIT_STORAGE_OPTIONS = {
        "socket_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
    }

    @property
    def CELERY(self) -> dict:  # noqa: N802 (Flask config key)
        if not self.REDIS_URL:
            # Embedded default: no broker, tasks run in the calling process.
            return {"task_always_eager": True, "task_eager_propagates": False}
        return {
            "broker_url": self.REDIS_URL,
            "result_backend": None,
            "task_ignore_result": True,
            # A task whose worker died is delivered again; sends claim their row first.
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            # Four tasks reserved per process: with one, a process sat idle while the main process
            # fetched its next task (issue 14: 30 -> 44 sends/s measured). A worker killed with tasks
            # reserved loses none: they stay unacknowledged in Redis, and the sweepers re-enqueue
            # sends and webhook events within a minute (a duplicate is harmless: the claim).
            "worker_prefetch_multiplier": 4,
            "broker_transport_options": {
                # Must exceed the longest countdown we schedule, or Redis redelivers early.
                "visibility_timeout": 3600,
                # Never block an API request for long when Redis is down or frozen, while connecting
                # or on an open connection: the enqueue fails fast and the sweeper enqueues later.
                "socket_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
                "socket_connect_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
            },
            "broker_connection_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
            "broker_connection_retry_on_startup": True,
            # A lost broker connection must not kill a send in the middle of its provider call (its
            # outcome would be unknown): it finishes and commits; the task, unacknowledged, may be
            # delivered again, and the send's claim makes that second run harmless.
            "worker_cancel_long_running_tasks_on_connection_loss": False,
            "worker_hijack_root_logger": False,  # keep our formatter, which prints the ids in `extra`
            # celery beat's state file: never the working directory (the repository, or a dyno's slug).
            "beat_schedule_filename": os.environ.get("CELERY_BEAT_SCHEDULE_FILE")
            or str(Path(tempfile.gettempdir()) / "conversations-celerybeat-schedule"),
        }


class TestConfig(Config):
    TESTING = True
    APP_ENV = "test"
    SQLALCHEMY_DATABASE_URI = database_url(
        os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/conversations_test")
    )
    REDIS_URL = None
    RATELIMIT_STORAGE_URI = "memory://"
    REQUIRE_PROVIDER_VERIFICATION = False  # tests connect made-up GHL locations; the check has its own tests
    ENCRYPTION_KEYS = "Y2FyZWZ1bGx5LWNob3Nlbi10ZXN0LWtleS0zMmJ5dGU="
    PUBLIC_BASE_URL = "https://api.example.test"
    WIDGET_DEMO = True
    SESSION_COOKIE_SECURE = False  # the test client speaks plain http; one test checks the production flags

    @property
    def CELERY(self) -> dict:  # noqa: N802
        # An in-memory broker nothing consumes: tasks are never run behind a test's back (nor
        # eagerly); tests run the task functions themselves and assert enqueues by name.
        return {"broker_url": "memory://", "task_always_eager": False}
