"""Push backends (APNs for iOS, FCM for Android), built once per process from the configuration.

A platform without credentials has no backend: that is logged once, when the backends are built
(at worker start and on first use), and its devices are skipped.
"""

import json
import logging
import threading
from pathlib import Path

from app.push.apns import ApnsBackend, ProviderToken
from app.push.base import Notification, Outcome, PushBackend, PushConfigurationError, PushResult, Target
from app.push.fcm import FcmBackend

log = logging.getLogger(__name__)

_lock = threading.Lock()
_backends: dict[str, PushBackend] | None = None

__all__ = [
    "Notification",
    "Outcome",
    "PushResult",
    "Target",
    "backend_for",
    "build_backends",
    "prepare",
    "reset_backends",
]


def backend_for(platform: str, config) -> PushBackend | None:
    return prepare(config).get(platform)


def prepare(config) -> dict[str, PushBackend]:
    """The process's backends, built (and what is missing logged) on the first call only."""
    global _backends
    with _lock:
        if _backends is None:
            _backends = build_backends(config)
        return _backends


def reset_backends() -> None:
    """Forget the built backends (their connections closed): the configuration changed (tests, the CLI)."""
    global _backends
    with _lock:
        for backend in (_backends or {}).values():
            backend.close()
        _backends = None


def build_backends(config) -> dict[str, PushBackend]:
    backends: dict[str, PushBackend] = {}
    for platform, build in (("ios", _apns), ("android", _fcm)):
        try:
            backend = build(config)
        except PushConfigurationError as exc:
            log.error("push.backend-misconfigured", extra={"platform": platform, "problem": str(exc)})
            continue
        if backend is None:
            log.warning("push.backend-not-configured", extra={"platform": platform})
            continue
        backends[platform] = backend
        log.info("push.backend-ready", extra={"platform": platform})
    return backends


def _apns(config) -> ApnsBackend | None:
    key = config.get("APNS_AUTH_KEY")
    if not key and config.get("APNS_AUTH_KEY_PATH"):
        try:
            key = Path(config["APNS_AUTH_KEY_PATH"]).read_text()
        except OSError:
            raise PushConfigurationError("APNS_AUTH_KEY_PATH cannot be read.") from None
    if not (key and config.get("APNS_KEY_ID") and config.get("APNS_TEAM_ID")):
        return None
    token = ProviderToken(
        key,
        key_id=config["APNS_KEY_ID"],
        team_id=config["APNS_TEAM_ID"],
        refresh_seconds=config.get("APNS_TOKEN_REFRESH_SECONDS", 2400),
    )
    return ApnsBackend(
        token,
        topic=config.get("APNS_TOPIC"),
        base_url=config.get("APNS_BASE_URL"),
        ca_file=config.get("APNS_CA_FILE"),
        timeout=config.get("PUSH_TIMEOUT_SECONDS", 10.0),
    )


def _fcm(config) -> FcmBackend | None:
    raw = config.get("FCM_CREDENTIALS")
    if not raw and config.get("FCM_CREDENTIALS_PATH"):
        try:
            raw = Path(config["FCM_CREDENTIALS_PATH"]).read_text()
        except OSError:
            raise PushConfigurationError("FCM_CREDENTIALS_PATH cannot be read.") from None
    if not raw:
        return None
    try:
        info = json.loads(raw)
    except ValueError:
        raise PushConfigurationError("FCM_CREDENTIALS is not JSON.") from None
    return FcmBackend(
        info,
        project_id=config.get("FCM_PROJECT_ID"),
        base_url=config.get("FCM_BASE_URL", "https://fcm.googleapis.com"),
        timeout=config.get("PUSH_TIMEOUT_SECONDS", 10.0),
    )
