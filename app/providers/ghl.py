"""GoHighLevel / LeadConnector API v2 over plain `requests`.

Facts from /work/shared/providers.md and the official specs in specs/ghl/: conversations.json
(send-a-new-message, get-message) and contacts.json (upsert-contact, get-contacts).
Rate limits and their headers: https://marketplace.gohighlevel.com/docs/other/rate-limits
"""

import os
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import requests

from app.providers.base import (
    FAILED,
    SENT,
    HistoryConversation,
    HistoryPage,
    OutboundMessage,
    ProviderContact,
    ProviderError,
    ProviderIds,
    RateBudget,
    Recipient,
    SendReceipt,
    StatusReport,
)
from app.providers.ghl_payloads import (
    IN_FLIGHT_STATUSES,  # noqa: F401 (GHL's vocabulary, with the statuses below)
    contact_from,
    ghl_status_to_ours,
    history_conversation,
    history_message,
)
from app.providers.ghl_voice import GhlTranscripts
from app.providers.http import request_may_have_arrived

GHL_API = "https://services.leadconnectorhq.com"
CONVERSATIONS_VERSION = "2021-04-15"  # the `Version` header every /conversations/* operation requires
CONTACTS_VERSION = "2021-07-28"  # ... and every /contacts/* operation

# SendMessageBodyDto.type values for the channels we send on.
_MESSAGE_TYPES = {"sms": "SMS", "whatsapp": "WhatsApp"}

# GHL refuses a send to a contact on do-not-disturb with a 4xx whose text says so; there is no
# error code for it in the spec, so the text is all we have.
_OPTED_OUT = re.compile(r"\bdnd\b|do not disturb|unsubscrib|opted?[\s_-]?out", re.IGNORECASE)

_pid_session: tuple[int, requests.Session] | None = None


def shared_session() -> requests.Session:
    """One pooled HTTP session per worker process (STYLE.md habit 6).

    Keyed by pid, so a forked Celery child never shares its parent's sockets. The session holds
    no tenant state: every call passes its own Authorization header.
    """
    global _pid_session
    if _pid_session is None or _pid_session[0] != os.getpid():
        _pid_session = (os.getpid(), requests.Session())
    return _pid_session[1]


def classify_ghl_response(response: requests.Response) -> ProviderError:
    """The one place that decides whether a failed GHL answer is worth retrying."""
    status = response.status_code
    text = _error_text(response)
    details: dict = {"http_status": status}
    code = f"http_{status}"
    if status == 429:  # burst (100 per 10 s) or daily (200,000) limit: wait and retry
        details.update({k: v for k, v in response.headers.items() if k.lower().startswith("x-ratelimit")})
        return ProviderError(
            text,
            code=code,
            transient=True,
            rate_limited=True,
            retry_after=_retry_after(response.headers),
            details=details,
        )
    if status >= 500:
        return ProviderError(text, code=code, transient=True, details=details)
    if status != 401 and _OPTED_OUT.search(text):
        return ProviderError(text, code=code, opted_out=True, details=details)
    if status in (401, 403):  # token invalid, expired, or not allowed on this location
        return ProviderError(text, code=code, bad_credentials=True, details=details)
    return ProviderError(text, code=code, details=details)  # 400, 404, 422...: the same request fails again


def network_error(exc: requests.RequestException, *, repeatable: bool = True) -> ProviderError:
    """No answer. When a send may have reached GHL (a read timeout), only GHL can tell whether it
    took it; when it cannot have (connection refused), or asking again is harmless, try again later."""
    message = f"GHL unreachable: {type(exc).__name__}"
    if not repeatable and request_may_have_arrived(exc):
        return ProviderError(message, code="network", outcome_unknown=True)
    return ProviderError(message, code="network", transient=True)


class GhlProvider(GhlTranscripts):  # voicemail transcripts: ghl_voice.py
    """Sends through GHL (the messaging port) and reads its contacts and history (the directory port)."""

    name = "ghl"

    def __init__(
        self,
        *,
        api_key: str,
        location_id: str,
        api_base_url: str = GHL_API,
        conversations_version: str = CONVERSATIONS_VERSION,
        contacts_version: str = CONTACTS_VERSION,
        timeout: float = 10.0,
        rate_limit: str | None = None,
        session: requests.Session | None = None,
    ):
        self.api_key = api_key
        self.location_id = location_id
        # GHL's limit is per location, shared by every call we make for it (sends and reads alike).
        self.rate_budget = RateBudget(rate_limit, f"ghl:{location_id}") if rate_limit else None
        self.base_url = api_base_url.rstrip("/")
        # Both versions are settings: GHL publishes newer ones (providers.md).
        self.conversations_version = conversations_version
        self.contacts_version = contacts_version
        self.timeout = timeout
        self.session = session or shared_session()

    def send(self, message: OutboundMessage) -> SendReceipt:
        message_type = _MESSAGE_TYPES.get(message.channel)
        if message_type is None:
            raise ProviderError(
                f"GHL sending on channel {message.channel!r} is not supported.", code="unsupported_channel"
            )
        # GHL sends to contacts, not numbers: the contact must exist first (providers.md).
        contact_id = message.recipient.provider_contact_id or self._upsert_contact(message.recipient)
        body = {"type": message_type, "contactId": contact_id, "message": message.body}
        if message.media_urls:
            body["attachments"] = list(message.media_urls)
        try:
            answer = self._request(
                "POST", "/conversations/messages", self.conversations_version, json=body, repeatable=False
            )
        except ProviderError as exc:
            exc.provider_contact_id = contact_id  # worth keeping even when the send failed
            raise
        message_id = answer.get("messageId")
        if not message_id:
            raise ProviderError("GHL accepted the message but returned no messageId.", code="bad_response")
        return SendReceipt(
            ids=ProviderIds(message=message_id, contact=contact_id, conversation=answer.get("conversationId")),
            status=ghl_status_to_ours(answer.get("status")) or SENT,
        )

    def fetch_status(self, provider_message_id: str) -> StatusReport:
        answer = self._request(
            "GET", f"/conversations/messages/{quote(provider_message_id, safe='')}", self.conversations_version
        )
        # The spec documents the message flat; wrapped answers ({"message": {...}}) have been seen
        # on other endpoints, so accept both.
        message = answer["message"] if isinstance(answer.get("message"), dict) else answer
        ghl_status = message.get("status")
        status = ghl_status_to_ours(ghl_status)
        if status != FAILED:
            return StatusReport(status)
        code, text = _message_error(message)
        return StatusReport(FAILED, error_code=code or ghl_status, error_message=text)

    def find_sent(self, message: OutboundMessage, since: datetime) -> SendReceipt | None:
        """The recipient's GHL conversation, newest messages first: an outbound one with the same
        body added since `since` is ours (search-conversation by contactId, then get-messages)."""
        contact_id = message.recipient.provider_contact_id or self._upsert_contact(message.recipient)
        params = {"locationId": self.location_id, "contactId": contact_id, "limit": 1}
        found = self._request("GET", "/conversations/search", self.conversations_version, params=params)
        for conversation in found.get("conversations") or []:
            page = self.messages_page(HistoryConversation(conversation["id"], ProviderContact(contact_id)), None, 20)
            for sent in page.items:
                recent = sent.occurred_at is None or sent.occurred_at >= since
                if sent.direction == "outbound" and sent.body == message.body and recent:
                    ids = ProviderIds(message=sent.ids.message, contact=contact_id, conversation=conversation["id"])
                    return SendReceipt(ids=ids, status=sent.status)
        return None

    def verify_credentials(self) -> None:
        # get-contacts is the cheapest read in our specs that proves the token works on this
        # location (GET /locations/{id} is not in them). The spec marks it deprecated.
        params = {"locationId": self.location_id, "limit": 1}
        try:
            self._request("GET", "/contacts/", self.contacts_version, params=params)
        except ProviderError as exc:
            if exc.transient:
                raise
            raise ProviderError(exc.message, code=exc.code, bad_credentials=True, details=exc.details) from exc

    # The directory port: GHL's contacts and history, for webhooks and the two-way sync.

    def get_contact(self, provider_contact_id: str) -> ProviderContact | None:
        """One contact (get-contact): webhooks name contacts only by id, this gives their phone and name."""
        try:
            answer = self._request("GET", f"/contacts/{quote(provider_contact_id, safe='')}", self.contacts_version)
        except ProviderError as exc:
            if exc.details.get("http_status") == 404:
                return None
            raise
        return contact_from(answer.get("contact") or {})

    def conversations_page(self, cursor, limit: int = 50) -> HistoryPage:
        """A page of the location's conversations, most recent activity first (search-conversation).

        GHL pages by `startAfterDate`: the sort value of the last conversation of the previous page.
        """
        params = {"locationId": self.location_id, "limit": limit, "sort": "desc", "sortBy": "last_message_date"}
        if cursor is not None:
            params["startAfterDate"] = cursor
        answer = self._request("GET", "/conversations/search", self.conversations_version, params=params)
        conversations = [row for row in answer.get("conversations") or [] if row.get("id")]
        last = conversations[-1] if len(conversations) == limit else None
        next_cursor = (last.get("sort") or [None])[0] if last else None
        return HistoryPage(
            [history_conversation(row) for row in conversations],
            next_cursor if isinstance(next_cursor, int | float) else None,
        )

    def messages_page(self, conversation: HistoryConversation, cursor, limit: int = 100) -> HistoryPage:
        """A page of a conversation's messages, newest first (get-messages), for channels we carry."""
        params = {"limit": limit}
        if cursor:
            params["lastMessageId"] = cursor
        answer = self._request(
            "GET",
            f"/conversations/{quote(conversation.provider_conversation_id, safe='')}/messages",
            self.conversations_version,
            params=params,
        )
        # Seen both nested ({"messages": {"messages": [...], "nextPage", "lastMessageId"}}) and flat.
        page = answer["messages"] if isinstance(answer.get("messages"), dict) else answer
        messages = page.get("messages") or []
        translated = [history_message(message, conversation) for message in messages]
        return HistoryPage(
            [message for message in translated if message is not None],
            page.get("lastMessageId") if page.get("nextPage") and messages else None,
        )

    def _upsert_contact(self, recipient: Recipient) -> str:
        """POST /contacts/upsert (upsert-contact): finds the contact by phone/email or creates it."""
        fields = {
            "locationId": self.location_id,
            "phone": recipient.phone,
            "firstName": recipient.first_name,
            "lastName": recipient.last_name,
            "email": recipient.email,
        }
        body = {key: value for key, value in fields.items() if value is not None}
        answer = self._request("POST", "/contacts/upsert", self.contacts_version, json=body)
        contact_id = (answer.get("contact") or {}).get("id")
        if not contact_id:
            raise ProviderError("GHL upserted the contact but returned no contact.id.", code="bad_response")
        return contact_id

    def _request(self, method: str, path: str, version: str, *, json=None, params=None, repeatable=True) -> dict:
        headers = {"Authorization": f"Bearer {self.api_key}", "Version": version, "Accept": "application/json"}
        if json is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self.session.request(
                method, self.base_url + path, headers=headers, json=json, params=params, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise network_error(exc, repeatable=repeatable) from exc
        if not response.ok:
            raise classify_ghl_response(response)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ProviderError("GHL answered with something other than a JSON object.", code="bad_response")
        return answer


def _error_text(response: requests.Response) -> str:
    """GHL's error message: `message` is a string (BadRequestDTO) or a list (UnprocessableDTO)."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        message = payload.get("message") or payload.get("error")
        if isinstance(message, list):
            message = "; ".join(str(part) for part in message)
        if message:
            return str(message)
    return f"GHL answered HTTP {response.status_code} {response.reason or ''}".strip()


def _retry_after(headers) -> float | None:
    """Seconds to wait: Retry-After when sent, else the burst window GHL reports."""
    value = headers.get("Retry-After")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
            except (TypeError, ValueError):
                pass
    interval = headers.get("X-RateLimit-Interval-Milliseconds")
    try:
        return float(interval) / 1000 if interval else None
    except ValueError:
        return None


def _message_error(message: dict) -> tuple[str | None, str | None]:
    """The failure reason of a GHL message, from `error` or `meta.error` when GHL gives one."""
    meta = message.get("meta")
    error = message.get("error") or (meta.get("error") if isinstance(meta, dict) else None)
    if isinstance(error, dict):
        code = error.get("code")
        return (str(code) if code is not None else None), error.get("message") or error.get("description")
    if isinstance(error, str):
        return None, error
    return None, None
