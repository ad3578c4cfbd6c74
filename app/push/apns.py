"""Apple Push Notification service over HTTP/2, with token (JWT) authentication.

Apple's reference: "Sending notification requests to APNs" and "Establishing a token-based
connection to APNs" (developer.apple.com/documentation/usernotifications). One HTTP/2 connection
per worker process carries every push (Apple asks providers to keep connections open rather than
open one per notification); the provider token is reused between 20 and 60 minutes.
"""

import json
import logging
import os
import ssl
import threading
import time

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from app.push.base import Notification, Outcome, PushConfigurationError, PushResult, Target

log = logging.getLogger(__name__)
# hpack logs every header it encodes at DEBUG, our provider token included: never let it.
logging.getLogger("hpack").setLevel(logging.INFO)

PRODUCTION_URL = "https://api.push.apple.com"
SANDBOX_URL = "https://api.sandbox.push.apple.com"
ALERT_TTL_SECONDS = 24 * 3600  # a phone offline for a day still learns a customer wrote
BADGE_TTL_SECONDS = 3600
PREVIEW_LIMIT = 3500  # bytes of JSON; Apple refuses payloads over 4 KB

# 400 BadDeviceToken: the token is not a device token (for this environment); 410: the app is gone.
DEAD_TOKEN_REASONS = {"BadDeviceToken", "Unregistered", "ExpiredToken"}


class ProviderToken:
    """The ES256 JWT Apple authenticates us by, made from the team's .p8 key and reused.

    Apple answers 429 TooManyProviderTokenUpdates to a token refreshed more often than every 20
    minutes, and 403 ExpiredProviderToken to one older than an hour; `refresh_seconds` sits between.
    """

    def __init__(self, key_pem: str, *, key_id: str, team_id: str, refresh_seconds: float, clock=time.time):
        try:
            key = load_pem_private_key(key_pem.encode(), password=None)
        except (ValueError, TypeError):
            # `from None`: the parser's own error could quote the key material.
            raise PushConfigurationError("APNS_AUTH_KEY is not a readable .p8 (PEM) private key.") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PushConfigurationError("APNS_AUTH_KEY must be an EC (P-256) key, as Apple issues.")
        self._key = key
        self.key_id = key_id
        self.team_id = team_id
        self.refresh_seconds = min(max(refresh_seconds, 20 * 60), 55 * 60)
        self.clock = clock  # replaceable: tests move time forward
        self._lock = threading.Lock()
        self._token: str | None = None
        self._issued_at = 0.0

    def current(self) -> str:
        with self._lock:
            now = self.clock()
            if self._token is None or now - self._issued_at >= self.refresh_seconds:
                self._issued_at = now
                self._token = jwt.encode(
                    {"iss": self.team_id, "iat": int(now)},
                    self._key,
                    algorithm="ES256",
                    headers={"kid": self.key_id},
                )
            return self._token

    def expire(self, stale: str) -> None:
        """Apple said `stale` expired: make a new one on the next push (unless another thread did)."""
        with self._lock:
            if self._token == stale:
                self._token = None

    def __repr__(self) -> str:  # never the key
        return f"<ProviderToken key_id={self.key_id} team_id={self.team_id}>"


class ApnsBackend:
    platform = "ios"

    def __init__(
        self,
        provider_token: ProviderToken,
        *,
        topic: str | None,
        base_url: str | None = None,
        ca_file: str | None = None,
        timeout: float = 10.0,
    ):
        self.provider_token = provider_token
        self.topic = topic
        self.base_url = base_url.rstrip("/") if base_url else None
        self.ca_file = ca_file
        self.timeout = timeout
        self._client: httpx.Client | None = None
        self._client_pid: int | None = None
        self._lock = threading.Lock()

    def client(self) -> httpx.Client:
        """The process's one HTTP/2 client (a forked worker makes its own: sockets are not shared)."""
        with self._lock:
            if self._client is None or self._client_pid != os.getpid():
                verify = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True
                self._client = httpx.Client(
                    http2=True,
                    verify=verify,
                    timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                    limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
                )
                self._client_pid = os.getpid()
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None

    def host_for(self, target: Target) -> str:
        if self.base_url:
            return self.base_url
        return SANDBOX_URL if target.environment == "sandbox" else PRODUCTION_URL

    def send(self, target: Target, notification: Notification) -> PushResult:
        topic = target.app_id or self.topic
        if not topic:
            return PushResult(Outcome.FAILED, reason="NoTopic")
        bearer = self.provider_token.current()
        headers = {
            "authorization": f"bearer {bearer}",
            "apns-topic": topic,
            **push_headers(notification),
        }
        url = f"{self.host_for(target)}/3/device/{target.token}"
        try:
            response = self.client().post(url, content=json.dumps(payload(notification)).encode(), headers=headers)
        except httpx.HTTPError as exc:  # connect/read timeouts, a dropped connection
            return PushResult(Outcome.RETRY, reason=exc.__class__.__name__)
        return self._classify(response, bearer)

    def _classify(self, response: httpx.Response, bearer: str) -> PushResult:
        status = response.status_code
        if status == 200:
            return PushResult(Outcome.SENT, status=status)
        try:
            reason = response.json().get("reason")
        except ValueError:
            reason = None
        if status == 410 or (status == 400 and reason in DEAD_TOKEN_REASONS):
            return PushResult(Outcome.UNREGISTERED, status=status, reason=reason)
        if status == 403 and reason == "ExpiredProviderToken":
            self.provider_token.expire(bearer)
            return PushResult(Outcome.RETRY, status=status, reason=reason, retry_after=0)
        if status == 429 or status >= 500:
            return PushResult(Outcome.RETRY, status=status, reason=reason)
        return PushResult(Outcome.FAILED, status=status, reason=reason)


def push_headers(notification: Notification) -> dict:
    now = int(time.time())
    if notification.silent:
        # Background pushes must be priority 5 and push-type background, or Apple refuses them.
        headers = {
            "apns-push-type": "background",
            "apns-priority": "5",
            "apns-expiration": str(now + BADGE_TTL_SECONDS),
        }
    else:
        headers = {"apns-push-type": "alert", "apns-priority": "10", "apns-expiration": str(now + ALERT_TTL_SECONDS)}
    if notification.thread_id and not notification.silent:
        headers["apns-collapse-id"] = notification.thread_id  # at most 64 bytes
    return headers


def payload(notification: Notification) -> dict:
    if notification.silent:
        aps = {"content-available": 1, "badge": notification.badge}
    else:
        aps = {
            "alert": {"title": notification.title or "", "body": notification.body or ""},
            "badge": notification.badge,
            "sound": "default",
        }
        if notification.thread_id:
            aps["thread-id"] = notification.thread_id
    return {"aps": aps, **notification.custom_data()}
