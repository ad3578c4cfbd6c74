"""Inbound: what customers send or call in, from any provider, through one path.

Find or create the contact, find the conversation (the open one for that contact and channel;
else the latest closed one, reopened; else a new one), store the message inbound and unread, move
the conversation's activity, and honour STOP/START.
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.live import notify
from app.models import Contact, Conversation, Message, Tenant
from app.models.base import utcnow
from app.services.contacts import set_opt_out
from app.services.conversations import append_message, find_open_conversation, find_or_start_open_conversation

log = logging.getLogger(__name__)

# The carrier-standard keywords (CTIA; Twilio's Advanced Opt-Out uses the same lists).
OPT_OUT_KEYWORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
OPT_IN_KEYWORDS = {"START", "YES", "UNSTOP", "OPTIN"}


class StatusBeforeSend(Exception):
    """A delivery report for a message whose provider id we have not stored yet.

    Providers can report faster than our worker records the id their send answered with. Raising
    marks the stored event failed, so the webhook retry task processes it again a minute later.
    """


@dataclass(frozen=True)
class InboundMessage:
    channel: str
    body: str = ""
    provider_message_id: str | None = None  # Twilio MessageSid/CallSid
    ghl_message_id: str | None = None
    ghl_conversation_id: str | None = None
    attachments: list = field(default_factory=list)  # [{"url", "content_type"}]
    call_duration_seconds: int | None = None
    recording_url: str | None = None
    direction: str = "inbound"
    sender_type: str = "visitor"
    delivery_status: str = "delivered"
    occurred_at: datetime | None = None  # when it happened, for history imported after the fact
    already_read: bool = False  # imported history must not light up the unread badges


def opt_out_intent(body: str, provider_hint: str | None = None) -> str | None:
    """ "STOP", "START" or None, from the provider's own flag (Twilio OptOutType) or the keyword."""
    if provider_hint and provider_hint.upper() in ("STOP", "START"):
        return provider_hint.upper()
    word = re.sub(r"[^A-Za-z]", "", body or "").upper()
    if word in OPT_OUT_KEYWORDS:
        return "STOP"
    if word in OPT_IN_KEYWORDS:
        return "START"
    return None


def record_inbound(
    tenant: Tenant,
    *,
    channel: str,
    body: str,
    contact: Contact | None = None,
    conversation: Conversation | None = None,
    call_duration_seconds: int | None = None,
    recording_url: str | None = None,
    attachments: list | None = None,
) -> tuple[Conversation, Message]:
    """Store a message a customer sent (or a call they made), unread, in the right conversation."""
    return store_message(
        tenant,
        InboundMessage(
            channel=channel,
            body=body,
            call_duration_seconds=call_duration_seconds,
            recording_url=recording_url,
            attachments=attachments or [],
        ),
        contact=contact,
        conversation=conversation,
    )


def store_message(
    tenant: Tenant,
    incoming: InboundMessage,
    *,
    contact: Contact | None = None,
    conversation: Conversation | None = None,
    opt_out_hint: str | None = None,
) -> tuple[Conversation, Message]:
    """Store one message from a provider (or the widget), once: a provider id already stored is returned as is."""
    existing = find_by_provider_ids(tenant, incoming.provider_message_id, incoming.ghl_message_id)
    if existing is not None:
        return db.session.get(Conversation, existing.conversation_id), existing
    if conversation is None:
        conversation = _conversation_for(tenant, contact, incoming.channel)
    elif conversation.status != "open":
        conversation.status = "open"  # a customer writing again reopens a closed thread
    if incoming.ghl_conversation_id and not conversation.ghl_conversation_id:
        conversation.ghl_conversation_id = incoming.ghl_conversation_id
    message = Message(
        tenant_id=tenant.id,
        conversation_id=conversation.id,
        sender_type=incoming.sender_type,
        body=incoming.body or "",
        channel=incoming.channel,
        direction=incoming.direction,
        delivery_status=incoming.delivery_status,
        provider_message_id=incoming.provider_message_id,
        ghl_message_id=incoming.ghl_message_id,
        call_duration_seconds=incoming.call_duration_seconds,
        recording_url=incoming.recording_url,
        attachments=list(incoming.attachments),
        inserted_at=incoming.occurred_at or utcnow(),
        read_at=utcnow() if incoming.already_read and incoming.direction == "inbound" else None,
    )
    try:
        with db.session.begin_nested():
            append_message(conversation, message)
    except IntegrityError:  # the same provider id raced in through another delivery
        existing = find_by_provider_ids(tenant, incoming.provider_message_id, incoming.ghl_message_id)
        return db.session.get(Conversation, existing.conversation_id), existing
    if contact is not None and incoming.direction == "inbound" and incoming.channel in ("sms", "whatsapp"):
        intent = opt_out_intent(incoming.body, opt_out_hint)
        if intent:
            set_opt_out(contact, intent == "STOP")
            log.info("contact.opt-out-changed", extra={"tenant_id": tenant.id, "contact_id": contact.id, "to": intent})
    db.session.commit()
    notify.message_created(message)  # live streams (app/live)
    # Push notifications plug in here (after the commit, by message id): not built yet.
    log.info(
        "message.inbound-recorded",
        extra={"tenant_id": tenant.id, "conversation_id": conversation.id, "message_id": message.id},
    )
    return conversation, message


def _conversation_for(tenant: Tenant, contact: Contact, channel: str) -> Conversation:
    """The contact's open conversation on `channel`; else its latest closed one, reopened; else a new one.

    An archived conversation stays archived (it is out of the inbox on purpose). Safe when two
    deliveries race: both reopen the same row, or the unique open-per-contact index lets one start.
    """
    conversation = find_open_conversation(tenant, contact, channel)
    if conversation is not None:
        return conversation
    closed = db.session.scalar(
        sa.select(Conversation)
        .where(
            Conversation.tenant_id == tenant.id,
            Conversation.contact_id == contact.id,
            Conversation.channel == channel,
            Conversation.status == "closed",
        )
        .order_by(Conversation.last_message_at.desc().nulls_last(), Conversation.id.desc())
        .limit(1)
    )
    if closed is None:
        return find_or_start_open_conversation(tenant, contact, channel)
    try:
        with db.session.begin_nested():
            closed.status = "open"  # a customer writing again reopens their closed thread
    except IntegrityError:  # another delivery opened one for this contact and channel meanwhile
        return find_open_conversation(tenant, contact, channel)
    return closed


def find_by_provider_ids(tenant: Tenant, provider_message_id: str | None, ghl_message_id: str | None) -> Message | None:
    clauses = []
    if provider_message_id:
        clauses.append(Message.provider_message_id == provider_message_id)
    if ghl_message_id:
        clauses.append(Message.ghl_message_id == ghl_message_id)
    if not clauses:
        return None
    return db.session.scalar(sa.select(Message).where(Message.tenant_id == tenant.id, sa.or_(*clauses)).limit(1))
