"""GHL's webhooks, in the domain's words (specs/ghl/webhook-events/).

GHL's current events (InboundMessage, OutboundMessage, ContactDndUpdate) and the names the mobile
app's earlier backend used (IncomingSMS/sms.inbound, IncomingCall/call.inbound,
CallCompleted/call.completed, SMSDelivered/sms.delivered, SMSFailed/sms.failed) share one path.
"""

import hashlib
import json
import logging
import time
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import Contact, Conversation, Message, Tenant
from app.models.base import aware, utcnow
from app.phones import phone_or_none
from app.providers.base import DELIVERED, FAILED, SENT, ProviderError
from app.providers.ghl import ghl_status_to_ours
from app.services.contacts import find_contact_by_phone, set_opt_out
from app.services.delivery_status import apply_status_update
from app.services.inbound import InboundMessage, StatusBeforeSend, find_by_provider_ids, store_message
from app.services.provider_registry import provider_for
from app.services.rate_limits import budget_for, wait_for_slot

log = logging.getLogger(__name__)

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
ADOPT_WINDOW = timedelta(minutes=10)


def event_type(payload: dict) -> str:
    """The event's canonical name (legacy names resolved)."""
    name = payload.get("type") or payload.get("event") or ""
    return ALIASES.get(name, (name, None))[0]


def event_key(payload: dict) -> str:
    """GHL's webhookId, or for deliveries without one the message and the state it reports."""
    if webhook_id := payload.get("webhookId"):
        return f"webhook:{webhook_id}"
    name = payload.get("type") or payload.get("event") or ""
    subject = payload.get("messageId") or payload.get("id")
    if not subject:
        # Nothing names the event (the spec's own InboundMessage example has no messageId): only the
        # same body is the same delivery; two different messages must not share one key.
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return f"{name}:body:{hashlib.sha256(canonical.encode()).hexdigest()}"
    return f"{name}:{subject}:{payload.get('status') or payload.get('callStatus')}"


def find_tenant(payload: dict) -> Tenant | None:
    location_id = payload.get("locationId")
    if not location_id:
        return None
    # A tenant that moved to another provider no longer takes GHL's events (they would duplicate).
    return db.session.scalar(
        sa.select(Tenant).where(Tenant.ghl_location_id == location_id, Tenant.sms_provider == "ghl")
    )


def handle_ghl_event(tenant: Tenant, kind: str, payload: dict) -> None:
    name = payload.get("type") or payload.get("event") or ""
    implied = ALIASES.get(name, (None, None))[1]
    if kind == INBOUND:
        _message(tenant, payload, message_type=payload.get("messageType") or implied, direction="inbound")
    elif kind == OUTBOUND:
        _message(tenant, payload, message_type=payload.get("messageType") or "SMS", direction="outbound")
    elif kind == STATUS:
        _status(tenant, payload.get("messageId"), payload.get("status") or implied, payload)
    elif kind == DND:
        _dnd(tenant, payload)
    else:
        log.info("webhook.ghl.ignored", extra={"tenant_id": tenant.id, "event_type": kind})


def import_history_message(tenant: Tenant, message: dict) -> None:
    """One message from GHL's API (get-messages), stored as history: at its own time, already read."""
    payload = {**message, "messageId": message.get("id")}
    _message(
        tenant,
        payload,
        message_type=message.get("messageType"),
        direction=message.get("direction") or "inbound",
        history=True,
    )


def _message(tenant: Tenant, payload: dict, *, message_type: str, direction: str, history: bool = False) -> None:
    channel = CHANNELS.get((message_type or "").upper())
    if channel is None:
        log.info("webhook.ghl.unsupported-channel", extra={"tenant_id": tenant.id, "message_type": message_type})
        return
    ghl_id = payload.get("messageId")
    existing = find_by_provider_ids(tenant, None, ghl_id)
    if existing is None and direction == "outbound" and not history:
        existing = _adopt_our_send(tenant, payload)
    if existing is not None:
        # Ours, or already stored: only what the event adds (a status, a call's outcome) changes.
        if existing.direction == "outbound":
            _status(tenant, ghl_id, payload.get("status"), payload)
        if channel == "voice":
            _complete_call(existing, payload)
        return
    contact = _contact(tenant, payload)
    attachments = [{"url": url, "content_type": None} for url in payload.get("attachments") or [] if url]
    incoming = InboundMessage(
        channel=channel,
        body=payload.get("body") or payload.get("message") or "",
        ghl_message_id=ghl_id,
        ghl_conversation_id=payload.get("conversationId"),
        attachments=[] if channel == "voice" else attachments,
        direction=direction,
        # Typed by staff inside GHL's own UI: mirrored as a staff message, never unread.
        sender_type="staff" if direction == "outbound" else "visitor",
        delivery_status=(ghl_status_to_ours(payload.get("status")) or SENT) if direction == "outbound" else DELIVERED,
        occurred_at=parse_timestamp(payload.get("dateAdded")) if history else None,
        already_read=history,
    )
    _, message = store_message(tenant, incoming, contact=contact)
    if channel == "voice":
        _complete_call(message, payload)


def _complete_call(message: Message, payload: dict) -> None:
    status = payload.get("callStatus") or payload.get("status") or ""
    duration = payload.get("callDuration")
    recordings = [url for url in payload.get("attachments") or [] if url]
    if duration is not None:
        message.call_duration_seconds = int(duration)
    if recordings:
        message.recording_url = recordings[0]
    if status == "voicemail":
        message.body = "Voicemail"
    elif status == "completed":
        message.body = f"Call, {message.call_duration_seconds or 0} s"
    elif status:
        message.body = message.body or f"Call ({status})"
    db.session.commit()


def _status(tenant: Tenant, ghl_message_id: str | None, ghl_status: str | None, payload: dict) -> None:
    status = ghl_status_to_ours(ghl_status)
    if status is None:
        return
    message = find_by_provider_ids(tenant, None, ghl_message_id)
    if message is None:
        raise StatusBeforeSend(f"No message with GHL id {ghl_message_id} yet.")
    if message.direction != "outbound":
        return
    error = payload.get("error") or payload.get("errorMessage")
    apply_status_update(
        tenant.id,
        message.id,
        status,
        error_code=payload.get("errorCode") or ("ghl_" + ghl_status if status == FAILED else None),
        error_message=str(error) if error else None,
    )


def _adopt_our_send(tenant: Tenant, payload: dict) -> Message | None:
    """GHL can report our own send before our worker has stored GHL's id for it: find that message.

    Same contact, same body, sent by us in the last minutes and not yet carrying a GHL id.
    """
    contact = _known_contact(tenant, payload)
    if contact is None:
        return None
    candidate = db.session.scalar(
        sa.select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.tenant_id == tenant.id,
            Conversation.contact_id == contact.id,
            Message.direction == "outbound",
            Message.ghl_message_id.is_(None),
            Message.sender_id.is_not(None),
            # In a worker's hands right now: a failed or not-yet-claimed message cannot be the one GHL sent.
            Message.delivery_status == "pending",
            Message.claimed_at.is_not(None),
            Message.body == (payload.get("body") or ""),
            Message.inserted_at > utcnow() - ADOPT_WINDOW,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    if candidate is not None and aware(candidate.inserted_at) > utcnow() - ADOPT_WINDOW:
        candidate.ghl_message_id = payload.get("messageId")
        db.session.commit()
    return candidate


def _dnd(tenant: Tenant, payload: dict) -> None:
    contact = db.session.scalar(
        sa.select(Contact).where(Contact.tenant_id == tenant.id, Contact.ghl_contact_id == payload.get("id"))
    )
    if contact is None:
        return
    sms = (payload.get("dndSettings") or {}).get("SMS") or {}
    set_opt_out(contact, bool(payload.get("dnd")) or sms.get("status") == "active")
    db.session.commit()


def _known_contact(tenant: Tenant, payload: dict) -> Contact | None:
    if ghl_contact_id := payload.get("contactId"):
        contact = db.session.scalar(
            sa.select(Contact).where(Contact.tenant_id == tenant.id, Contact.ghl_contact_id == ghl_contact_id)
        )
        if contact is not None:
            return contact
    phone = phone_or_none(payload.get("phone") or payload.get("from"))
    return find_contact_by_phone(tenant, phone) if phone else None


def _contact(tenant: Tenant, payload: dict) -> Contact:
    """Our contact for the event's GHL contact: by GHL id, else by phone, else a new one.

    GHL's message events name the contact only by id. Before creating a contact we ask GHL who it
    is, so someone we already know by phone is linked, not duplicated as a nameless twin.
    """
    ghl_contact_id = payload.get("contactId")
    details = {}
    if _known_contact(tenant, payload) is None and ghl_contact_id:
        db.session.commit()  # no transaction held while GHL answers
        details = _ghl_contact_details(tenant, ghl_contact_id)
    _lock_ghl_contact(tenant, ghl_contact_id)
    phone = phone_or_none(payload.get("phone") or payload.get("from") or details.get("phone"))
    contact = _known_contact(tenant, {**payload, "phone": phone})
    if contact is None:
        contact = Contact(
            tenant_id=tenant.id,
            phone=phone,
            first_name=details.get("firstName") or None,
            last_name=details.get("lastName") or None,
            email=details.get("email") or None,
        )
        db.session.add(contact)
    if not contact.ghl_contact_id and ghl_contact_id:
        contact.ghl_contact_id = ghl_contact_id
    elif ghl_contact_id and contact.ghl_contact_id != ghl_contact_id:
        # Two GHL contacts share this phone number; ours stays linked to the first (merging is not built).
        log.warning("contact.second-ghl-contact", extra={"tenant_id": tenant.id, "contact_id": contact.id})
    db.session.flush()
    return contact


def _ghl_contact_details(tenant: Tenant, ghl_contact_id: str) -> dict:
    """The contact as GHL knows it; {} when GHL does not know it. A transient failure raises, so the
    event is retried rather than stored under a contact we could not identify."""
    try:
        while wait := wait_for_slot(budget_for(tenant)):  # within the location's GHL budget, like sends
            time.sleep(wait)
        return provider_for(tenant).get_contact(ghl_contact_id)
    except ProviderError as error:
        if error.transient:
            raise
        log.info("webhook.ghl.contact-unknown", extra={"tenant_id": tenant.id, "code": error.code})
        return {}


def _lock_ghl_contact(tenant: Tenant, ghl_contact_id: str | None) -> None:
    """Serialise deliveries about one GHL contact until our transaction ends.

    Two messages from a new GHL contact, processed at once, would otherwise both find no contact
    and both try to create one (the unique index on contacts.ghl_contact_id would fail the second).
    A transaction-scoped advisory lock makes the second wait and then find the first's.
    """
    if not ghl_contact_id or db.session.get_bind().dialect.name != "postgresql":
        return
    key = sa.func.hashtextextended(f"ghl-contact:{tenant.id}:{ghl_contact_id}", 0)
    db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def parse_timestamp(value) -> datetime | None:
    """GHL's ISO 8601 times ("2021-04-21T11:31:45.750Z"), or None when missing or not a time."""
    try:
        return aware(datetime.fromisoformat(str(value).replace("Z", "+00:00"))) if value else None
    except ValueError:
        return None
