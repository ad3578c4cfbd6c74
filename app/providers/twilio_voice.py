"""Twilio's calls and media for the port: click-to-call through the Calls API, and reading the media
and recordings Twilio keeps (they can require the account's credentials).

Spec: specs/twilio/twilio_api_v2010.json, operation CreateCall. Media and recording URLs:
https://www.twilio.com/docs/usage/security#http-authentication ("HTTP Basic Authentication for
media access"), https://www.twilio.com/docs/voice/api/recording#fetch-a-recording-media-file.
"""

import re
from urllib.parse import urlsplit

import requests

from app.providers.base import ByteRange, CallRequest, MediaStream, ProviderError, ProviderIds

# The staff member's phone rings this long before Twilio reports no-answer (CreateCall `Timeout`).
STAFF_RING_SECONDS = 30
# Every progress event of the staff leg, so the app's message moves as the call does.
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
CHUNK_BYTES = 64 * 1024
TWILIO_API = "https://api.twilio.com"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def outbound_call_url(callback_base: str, reference: str, step: str = "") -> str:
    """Where Twilio asks about one of our calls: /webhooks/twilio/voice/outbound/<our message id>[/step]."""
    return f"{callback_base}/voice/outbound/{reference}" + (f"/{step}" if step else "")


class TwilioVoice:
    """Mixed into TwilioProvider: uses its client, its numbers and its error classification
    (`_call`, `_classify`), so Twilio's errors are still classified in one place."""

    def place_call(self, call: CallRequest) -> ProviderIds:
        """Ring the staff member; the TwiML at our URL then dials the customer (webhooks/twilio_calls.py).

        The customer's number and the recording choice are not sent here: that TwiML reads them from
        the call's message when the staff member answers, so they never travel in a URL.
        """
        caller_id = call.caller_id or self.phone_number
        if not caller_id:
            raise ProviderError(
                "Calls need a Twilio phone number (a Messaging Service cannot call).",
                code="no_caller_id",
                bad_credentials=True,
            )
        if not self.status_callback_url:
            raise ProviderError("No public URL is configured for Twilio's call requests.", code="no_callback_url")
        base = self.status_callback_url
        params = {
            "to": call.staff_phone,
            # The staff member sees the business number too: they know it is this app calling.
            "from_": caller_id,
            "url": outbound_call_url(base, call.reference),
            "method": "POST",
            "status_callback": outbound_call_url(base, call.reference, "status"),
            "status_callback_event": CALL_EVENTS,
            "status_callback_method": "POST",
            "timeout": STAFF_RING_SECONDS,
        }
        resource = self._call(lambda: self.client.calls.create(**params), repeatable=False)
        return ProviderIds(message=resource.sid)

    def fetch_media(self, url: str, byte_range: ByteRange | None = None) -> MediaStream:
        target = self._own_media_url(url)
        headers = {}
        if byte_range is not None:
            end = "" if byte_range.end is None else str(byte_range.end)
            headers["Range"] = f"bytes={byte_range.start}-{end}"
        try:
            # Basic auth for Twilio's host only: requests drops it when Twilio redirects to its CDN.
            response = self._media_session().get(
                target, headers=headers, stream=True, timeout=self.http_client.timeout, allow_redirects=True
            )
        except requests.RequestException as exc:
            raise self._classify(None, None, f"Twilio unreachable: {type(exc).__name__}") from exc
        if response.status_code == 404:
            response.close()
            raise ProviderError("Twilio no longer has this file.", code="not_found")
        if response.status_code == 416:
            response.close()
            raise ProviderError("The range is outside the file.", code="range_not_satisfiable")
        if response.status_code not in (200, 206):
            response.close()
            raise self._classify(response.status_code, None, f"Twilio answered {response.status_code}.")
        served, total = None, _int(response.headers.get("Content-Length"))
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if response.status_code == 206 and match:
            served = ByteRange(int(match[1]), int(match[2]))
            total = None if match[3] == "*" else int(match[3])
        return MediaStream(
            chunks=response.iter_content(CHUNK_BYTES),
            content_type=response.headers.get("Content-Type", "application/octet-stream"),
            total_length=total,
            served=served,
            close=response.close,
        )

    def _own_media_url(self, url: str) -> str:
        """The URL on this adapter's API host, if it names a file of this account; anything else is
        refused, so the account's credentials are never sent to another host."""
        parts = urlsplit(url or "")
        official = urlsplit(TWILIO_API)
        configured = urlsplit(self.http_client.base_url)
        hosts = {(official.scheme, official.netloc), (configured.scheme, configured.netloc)}
        if (parts.scheme, parts.netloc) not in hosts:
            raise ProviderError("Not a Twilio media URL.", code="not_provider_media")
        if not parts.path.startswith(f"/2010-04-01/Accounts/{self.account_sid}/") or ".." in parts.path:
            raise ProviderError("Not a file of this Twilio account.", code="not_provider_media")
        path = parts.path
        if "/Recordings/" in path and "." not in path.rsplit("/", 1)[-1]:
            path += ".mp3"  # the recording as MP3 (Twilio's default is a much larger WAV)
        return self.http_client.base_url + path

    def _media_session(self) -> requests.Session:
        session = getattr(self, "_media_http", None)
        if session is None:
            session = self._media_http = requests.Session()
            session.auth = self.client.auth
        return session


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
