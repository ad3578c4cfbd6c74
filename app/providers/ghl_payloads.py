"""GHL's payloads (webhook events, API messages and contacts) in the port's words (specs/ghl/).

GHL's current events (InboundMessage, OutboundMessage, ContactDndUpdate) and the names the mobile
app's earlier backend used (IncomingSMS/sms.inbound, IncomingCall/call.inbound,
CallCompleted/call.completed, SMSDelivered/sms.delivered, SMSFailed/sms.failed) share one path.
"""

import hashlib
import json
from datetime import UTC, datetime

from app.providers.base import (
    DELIVERED,
    FAILED,
    READ,
    SENT,
    CallOutcome,
    DeliveryReport,
    HistoryConversation,
    OptOutChange,
    ProviderContact,
    ProviderIds,
    ProviderMessage,
    StatusReport,
)
from app.text import clean_payload

INBOUND, OUTBOUND, STATUS, DND = "InboundMessage", "OutboundMessage", "MessageStatus", "ContactDndUpdate"
# Legacy name -> (our event, message type or status it implies).
ALIASES = {
    "IncomingSMS": (INBOUND, "SMS"),
    "sms.inbound": (INBOUND, "SMS"),
    "IncomingCall": (INBOUND, "CALL"),
    "call.inbound": (INBOUND, "CALL"),
    "CallCompleted": (INBOUND, "CALL"),
    "call.completed": (INBOUND, "CALL"),
    "SMSDelivered": (STATUS, "delivered"),
    "sms.delivered": (STATUS, "delivered"),
    "SMSFailed": (STATUS, "failed"),
    "sms.failed": (STATUS, "failed"),
}
CHANNELS = {
    "SMS": "sms",
    "TYPE_SMS": "sms",
    "WHATSAPP": "whatsapp",
    "TYPE_WHATSAPP": "whatsapp",
    "CALL": "voice",
    "TYPE_CALL": "voice",
    "VOICEMAIL": "voice",
    "LIVE CHAT": "web",
    "TYPE_LIVE_CHAT": "web",
}
# GetMessageResponseDto.status -> ours, for the states that say something final. pending,
# scheduled and queued are still inside GHL and map to None. connected (calls), opened and
# clicked (email) all mean the recipient has it. clicked, opt_out and queued are in the spec's
# enum but not in providers.md's list.
_FINAL_STATUSES = {
    "sent": SENT,
    "delivered": DELIVERED,
    "connected": DELIVERED,
    "opened": DELIVERED,
    "clicked": DELIVERED,
    "read": READ,
    "undelivered": FAILED,
    "failed": FAILED,
    "opt_out": FAILED,
}
IN_FLIGHT_STATUSES = frozenset({"pending", "scheduled", "queued"})
# GHL's callStatus for calls (InboundMessage, Example(Call)) -> ours.
_CALL_STATUSES = {"completed": "completed", "voicemail": "voicemail", "busy": "busy", "no-answer": "no-answer"}


def ghl_status_to_ours(status: str | None) -> str | None:
    """Our delivery status for a GHL message status, or None while GHL has nothing final."""
    return _FINAL_STATUSES.get((status or "").lower())


class Unsupported(ValueError):
    """An event we do not act on (an unknown type, a channel we do not carry)."""


def _name(payload: dict) -> str:
    return payload.get("type") or payload.get("event") or ""


def event_type(payload: dict) -> str:
    """The event's canonical name (legacy names resolved)."""
    name = _name(payload)
    return ALIASES.get(name, (name, None))[0]


def event_key(payload: dict) -> str:
    """GHL's webhookId, or for deliveries without one the message and the state it reports."""
    if webhook_id := payload.get("webhookId"):
        return f"webhook:{webhook_id}"
    subject = payload.get("messageId") or payload.get("id")
    if not subject:
        # Nothing names the event (the spec's own InboundMessage example has no messageId): only the
        # same body is the same delivery; two different messages must not share one key.
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return f"{_name(payload)}:body:{hashlib.sha256(canonical.encode()).hexdigest()}"
    return f"{_name(payload)}:{subject}:{payload.get('status') or payload.get('callStatus')}"


def translate(kind: str, payload: dict) -> ProviderMessage | DeliveryReport | OptOutChange | None:
    """One stored event in the port's words; None for a status that says nothing final.

    Raises Unsupported for events we do not act on.
    """
    implied = ALIASES.get(_name(payload), (None, None))[1]
    if kind == INBOUND:
        return message_from(payload, message_type=payload.get("messageType") or implied, direction="inbound")
    if kind == OUTBOUND:
        return message_from(payload, message_type=payload.get("messageType") or "SMS", direction="outbound")
    if kind == STATUS:
        return delivery_report(payload.get("messageId"), payload.get("status") or implied, payload)
    if kind == DND and payload.get("id"):
        sms = (payload.get("dndSettings") or {}).get("SMS") or {}
        return OptOutChange(payload["id"], bool(payload.get("dnd")) or sms.get("status") == "active")
    raise Unsupported(kind)


def message_from(payload: dict, *, message_type: str | None, direction: str, history: bool = False) -> ProviderMessage:
    channel = CHANNELS.get((message_type or "").upper())
    if channel is None:
        raise Unsupported(f"message type {message_type!r}")
    urls = [url for url in payload.get("attachments") or [] if url]
    call = _call_outcome(payload, urls) if channel == "voice" else None
    delivery = delivery_report(payload.get("messageId"), payload.get("status"), payload)
    return ProviderMessage(
        channel=channel,
        ids=ProviderIds(
            message=payload.get("messageId"),
            contact=payload.get("contactId"),
            conversation=payload.get("conversationId"),
        ),
        body=payload.get("body") or payload.get("message") or "",
        sender_phone=payload.get("phone") or payload.get("from"),
        attachments=() if call else tuple({"url": url, "content_type": None} for url in urls),
        direction=direction,
        status=(delivery.report.status if delivery else SENT) if direction == "outbound" else DELIVERED,
        report=delivery.report if delivery and direction == "outbound" else None,
        call=call,
        occurred_at=parse_timestamp(payload.get("dateAdded")) if history else None,
        history=history,
    )


def history_message(message: dict, conversation: HistoryConversation) -> ProviderMessage | None:
    """One message from GHL's get-messages, as history; None for a channel we do not carry."""
    message = clean_payload(message)  # GHL's text may hold a NUL: stored, not refused, as the webhooks do
    payload = {
        "contactId": conversation.contact.provider_contact_id,
        **message,
        "messageId": message.get("id"),
        "conversationId": conversation.provider_conversation_id,
    }
    direction = message.get("direction") or "inbound"
    try:
        return message_from(payload, message_type=message.get("messageType"), direction=direction, history=True)
    except Unsupported:
        return None


def history_conversation(conversation: dict) -> HistoryConversation:
    """One conversation from GHL's search-conversation, with its contact as GHL names them."""
    first, _, last = (conversation.get("fullName") or conversation.get("contactName") or "").partition(" ")
    return HistoryConversation(
        provider_conversation_id=conversation["id"],
        contact=ProviderContact(
            provider_contact_id=conversation.get("contactId"),
            phone=conversation.get("phone"),
            first_name=first or None,
            last_name=last or None,
            email=conversation.get("email"),
        ),
    )


def contact_from(contact: dict) -> ProviderContact | None:
    """get-contact's `contact`, or None when GHL answered without one."""
    if not contact.get("id"):
        return None
    return ProviderContact(
        provider_contact_id=contact["id"],
        phone=contact.get("phone"),
        first_name=contact.get("firstName") or None,
        last_name=contact.get("lastName") or None,
        email=contact.get("email") or None,
    )


def delivery_report(ghl_message_id: str | None, ghl_status: str | None, payload: dict) -> DeliveryReport | None:
    status = ghl_status_to_ours(ghl_status)
    if status is None or not ghl_message_id:
        return None
    error = payload.get("error") or payload.get("errorMessage")
    return DeliveryReport(
        ghl_message_id,
        StatusReport(
            status,
            error_code=payload.get("errorCode") or ("ghl_" + ghl_status if status == FAILED else None),
            error_message=str(error) if error else None,
        ),
    )


def _call_outcome(payload: dict, recordings: list[str]) -> CallOutcome:
    status = payload.get("callStatus") or payload.get("status") or "ringing"
    duration = payload.get("callDuration")
    return CallOutcome(
        status=_CALL_STATUSES.get(status, status),
        duration_seconds=int(duration) if duration is not None else None,
        recording_url=recordings[0] if recordings else None,
    )


def parse_timestamp(value) -> datetime | None:
    """GHL's ISO 8601 times ("2021-04-21T11:31:45.750Z"), or None when missing or not a time."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed is not None and parsed.tzinfo is None else parsed
