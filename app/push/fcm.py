"""Firebase Cloud Messaging, HTTP v1 API, for Android.

Reference: firebase.google.com/docs/cloud-messaging/send-message (HTTP v1) and its error codes
(firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode). Authentication is an OAuth2 access
token for the service account, minted and refreshed by google-auth; HTTP goes through one pooled
httpx client per process.
"""

import logging
import os
import threading

import google.auth.transport.requests
import httpx
import requests
from google.oauth2 import service_account

from app.push.base import Notification, Outcome, PushConfigurationError, PushResult, Target

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
DEAD_TOKEN_CODES = {"UNREGISTERED", "SENDER_ID_MISMATCH"}
RETRY_CODES = {"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"}


class FcmBackend:
    platform = "android"

    def __init__(self, service_account_info: dict, *, project_id: str | None, base_url: str, timeout: float = 10.0):
        try:
            self._credentials = service_account.Credentials.from_service_account_info(
                service_account_info, scopes=[SCOPE]
            )
        except (ValueError, KeyError):
            raise PushConfigurationError("FCM_CREDENTIALS is not a usable service-account JSON.") from None
        self.project_id = project_id or service_account_info.get("project_id")
        if not self.project_id:
            raise PushConfigurationError("FCM_PROJECT_ID is needed (the service account names no project_id).")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._client_pid: int | None = None
        self._token_session = requests.Session()

    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None or self._client_pid != os.getpid():
                self._client = httpx.Client(
                    http2=True, timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0))
                )
                self._client_pid = os.getpid()
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None

    def access_token(self) -> str:
        """The service account's OAuth2 token, refreshed by google-auth shortly before it expires."""
        with self._lock:
            if not self._credentials.valid:
                request = google.auth.transport.requests.Request(session=self._token_session)
                self._credentials.refresh(request)
            return self._credentials.token

    def send(self, target: Target, notification: Notification) -> PushResult:
        try:
            token = self.access_token()
        except Exception as exc:  # google.auth.exceptions.* and transport errors; no secret in the name
            return PushResult(Outcome.RETRY, reason=f"auth:{exc.__class__.__name__}")
        url = f"{self.base_url}/v1/projects/{self.project_id}/messages:send"
        try:
            response = self.client().post(
                url, json={"message": message(target, notification)}, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            return PushResult(Outcome.RETRY, reason=exc.__class__.__name__)
        return self._classify(response)

    def _classify(self, response: httpx.Response) -> PushResult:
        status = response.status_code
        if status == 200:
            return PushResult(Outcome.SENT, status=status)
        code = error_code(response)
        retry_after = _seconds(response.headers.get("Retry-After"))
        if code in DEAD_TOKEN_CODES or status == 404:
            return PushResult(Outcome.UNREGISTERED, status=status, reason=code)
        if status == 401:
            with self._lock:  # our access token was refused: mint a new one next time
                self._credentials.token = None
            return PushResult(Outcome.RETRY, status=status, reason=code, retry_after=0)
        if code in RETRY_CODES or status == 429 or status >= 500:
            return PushResult(Outcome.RETRY, status=status, reason=code, retry_after=retry_after)
        return PushResult(Outcome.FAILED, status=status, reason=code)


def message(target: Target, notification: Notification) -> dict:
    """The HTTP v1 `message`: data values must all be strings."""
    data = {key: str(value) for key, value in notification.custom_data().items()}
    data["badge"] = str(notification.badge)
    body: dict = {"token": target.token, "data": data}
    if notification.silent:
        body["android"] = {"priority": "normal"}  # data only: the app updates its badge, nothing is shown
        return body
    body["notification"] = {"title": notification.title or "", "body": notification.body or ""}
    android: dict = {
        "priority": "high",
        "notification": {"notification_count": notification.badge},
    }
    if notification.thread_id:
        android["collapse_key"] = notification.thread_id
        android["notification"]["tag"] = notification.thread_id  # a newer alert replaces the older one
    body["android"] = android
    return body


def error_code(response: httpx.Response) -> str | None:
    """FCM's errorCode from the error's details, else the Google API status ("NOT_FOUND")."""
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return None
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return detail["errorCode"]
    return error.get("status")


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
