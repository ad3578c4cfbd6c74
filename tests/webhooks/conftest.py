"""Fixtures for the webhook tests: tenants wired to a provider, and fakes that sign and post as the providers do.

The handler stores each event and enqueues its processing by name; `worker.run()` plays the
Celery worker by calling the task's service function for every enqueued event.
"""

import base64
import json

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from flask import current_app
from twilio.request_validator import RequestValidator

import tasks.webhooks  # noqa: F401  (registers the webhook tasks, as the worker's entry point does)
from app import jobs
from app.extensions import db
from app.models import Contact, Conversation, Message, WebhookEvent
from app.providers.base import ProviderContact
from app.providers.ghl_payloads import contact_from
from app.services.settings import update_messaging_settings
from config import TestConfig
from tests import factories
from tests.services import migrated_app, postgres_url, truncate_everything
from tests.webhooks import payloads

TWILIO_URL = "https://api.example.test/webhooks/twilio"  # TestConfig's PUBLIC_BASE_URL + the route


class Worker:
    """Stands in for the Celery worker: runs each enqueued job by calling the task registered under its name."""

    def __init__(self, queue: list):
        self.queue = queue

    def run(self) -> list[str]:
        outcomes = []
        while self.queue:
            name, args, _ = self.queue.pop(0)
            assert name == jobs.PROCESS_WEBHOOK, name
            outcomes.append(current_app.extensions["celery"].tasks[name](*args))
        return outcomes


@pytest.fixture
def worker(queue):
    return Worker(queue)


# --- Twilio ----------------------------------------------------------------------------------


def make_twilio_tenant(*, name="Acme", auth_token=payloads.AUTH_TOKEN, account_sid=payloads.ACCOUNT_SID, **settings):
    tenant = factories.make_tenant(name=name)
    update_messaging_settings(
        tenant,
        {
            "sms_provider": "twilio",
            "twilio_account_sid": account_sid,
            "twilio_auth_token": auth_token,
            "twilio_phone_number": payloads.TWILIO_NUMBER,
            **settings,
        },
    )
    return tenant


class FakeTwilio:
    """Posts form parameters signed exactly as Twilio signs them (the official RequestValidator)."""

    def __init__(self, client, worker: Worker, auth_token: str = payloads.AUTH_TOKEN):
        self.client = client
        self.worker = worker
        self.auth_token = auth_token

    def signature(self, url: str, params: dict, *, auth_token: str | None = None) -> str:
        return RequestValidator(auth_token or self.auth_token).compute_signature(url, params)

    def post(self, params: dict, *, path: str = "/webhooks/twilio", signed_url: str | None = None, **options):
        """POST `params` to `path`, signed for `signed_url` (default: the public URL of `path`)."""
        query = options.pop("query", "")
        signed_url = signed_url or f"https://api.example.test{path}{query}"
        headers = dict(options.pop("headers", {}))
        signature = options.pop("signature", None)
        if signature is None:
            signature = self.signature(signed_url, params, auth_token=options.pop("auth_token", None))
        if signature:
            headers["X-Twilio-Signature"] = signature
        return self.client.post(f"{path}{query}", data=params, headers=headers, **options)

    def deliver(self, params: dict, **options):
        """Post, then let the worker process what was enqueued, as in production."""
        response = self.post(params, **options)
        self.worker.run()
        return response


@pytest.fixture
def twilio_tenant(db):
    return make_twilio_tenant()


@pytest.fixture
def twilio(client, worker, twilio_tenant):
    return FakeTwilio(client, worker)


# --- GHL -------------------------------------------------------------------------------------


class GhlKeys:
    """A test key pair per scheme, standing in for GHL's (config keys point at the public halves)."""

    def __init__(self):
        self.ed25519 = ed25519.Ed25519PrivateKey.generate()
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @staticmethod
    def der_b64(private_key) -> str:
        der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    @staticmethod
    def pem(private_key) -> str:
        return (
            private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )


@pytest.fixture(scope="session")
def ghl_keys():
    return GhlKeys()


@pytest.fixture
def ghl_config(app, monkeypatch, ghl_keys):
    """Our test public keys in the config: Ed25519 as GHL publishes it (base64 DER), RSA as PEM."""
    monkeypatch.setitem(app.config, "GHL_WEBHOOK_ED25519_PUBLIC_KEY", GhlKeys.der_b64(ghl_keys.ed25519))
    monkeypatch.setitem(app.config, "GHL_WEBHOOK_RSA_PUBLIC_KEY", GhlKeys.pem(ghl_keys.rsa))
    return app.config


def make_ghl_tenant(*, name="Acme", location_id=payloads.LOCATION_ID):
    tenant = factories.make_tenant(name=name)
    update_messaging_settings(
        tenant, {"sms_provider": "ghl", "ghl_api_key": "pit-test", "ghl_location_id": location_id}
    )
    return tenant


class FakeGhl:
    """Posts JSON events signed over the raw body: X-GHL-Signature (Ed25519) or x-wh-signature (RSA)."""

    def __init__(self, client, worker: Worker, keys: GhlKeys):
        self.client = client
        self.worker = worker
        self.keys = keys

    def sign(self, raw: bytes, *, scheme: str = "ed25519", key=None) -> dict:
        if scheme == "ed25519":
            signature = (key or self.keys.ed25519).sign(raw)
            return {"X-GHL-Signature": base64.b64encode(signature).decode()}
        signature = (key or self.keys.rsa).sign(raw, padding.PKCS1v15(), hashes.SHA256())
        return {"x-wh-signature": base64.b64encode(signature).decode()}

    def post(self, payload=None, *, raw: bytes | None = None, scheme="ed25519", key=None, headers=None):
        raw = raw if raw is not None else json.dumps(payload).encode()
        signed = {} if scheme is None else self.sign(raw, scheme=scheme, key=key)
        return self.client.post(
            "/webhooks/ghl", data=raw, content_type="application/json", headers={**signed, **(headers or {})}
        )

    def deliver(self, payload, **options):
        response = self.post(payload, **options)
        self.worker.run()
        return response


@pytest.fixture
def ghl_tenant(db):
    return make_ghl_tenant()


class GhlDirectory:
    """GHL's contacts as the webhook processing sees them: who a contactId is (get-contact)."""

    name = "ghl"
    rate_budget = None

    def __init__(self):
        self.contacts: dict[str, dict] = {}
        self.lookups: list[str] = []

    def get_contact(self, contact_id: str) -> ProviderContact | None:
        self.lookups.append(contact_id)
        return contact_from({"id": contact_id, **self.contacts[contact_id]}) if contact_id in self.contacts else None

    def conversations_page(self, cursor):
        raise AssertionError("webhook processing reads no history")

    messages_page = conversations_page


@pytest.fixture
def ghl_directory(use_provider) -> GhlDirectory:
    directory = GhlDirectory()
    use_provider(directory)
    return directory


@pytest.fixture
def ghl(client, worker, ghl_keys, ghl_config, ghl_tenant, ghl_directory):
    return FakeGhl(client, worker, ghl_keys)


# --- What the database holds -----------------------------------------------------------------


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def one(model, *where):
    db.session.expire_all()
    return db.session.scalars(sa.select(model).where(*where)).one()


def all_rows(model, *where, order_by=None):
    return list(db.session.scalars(sa.select(model).where(*where).order_by(order_by or model.id)))


def snapshot() -> dict:
    """What a redelivery must not change: every message, conversation, contact and event state."""
    db.session.expire_all()
    return {
        "messages": [
            (
                m.id,
                m.conversation_id,
                m.direction,
                m.sender_type,
                m.body,
                m.channel,
                m.delivery_status,
                m.provider_message_id,
                m.ghl_message_id,
                m.call_duration_seconds,
                m.recording_url,
                m.attachments,
                m.error_code,
                m.read_at,
            )
            for m in all_rows(Message)
        ],
        "conversations": [
            (c.id, c.contact_id, c.channel, c.status, c.last_message_at, c.last_message_id)
            for c in all_rows(Conversation)
        ],
        "contacts": [(c.id, c.phone, c.ghl_contact_id, c.sms_opted_out_at) for c in all_rows(Contact)],
        "events": [(e.id, e.event_key, e.state) for e in all_rows(WebhookEvent)],
    }


# --- Committed rows, for deliveries racing each other in threads ----------------------------
# The `db` fixture's rolled-back transaction is invisible to other connections: racing threads
# need their own database whose commits are real (truncated after each test).


class RaceConfig(TestConfig):
    SQLALCHEMY_DATABASE_URI = postgres_url("webhooks")


@pytest.fixture(scope="session")
def race_app():
    return migrated_app(RaceConfig(), becomes_current=False)


@pytest.fixture
def committed(race_app):
    """The race app's context for the test's own setup and checks; every table emptied afterwards."""
    with race_app.app_context():
        try:
            yield race_app
        finally:
            db.session.remove()
            truncate_everything()
