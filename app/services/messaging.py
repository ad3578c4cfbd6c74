"""Messages: sending from staff, and reading a conversation's history."""

import logging

import sqlalchemy as sa

from app import jobs
from app.celery import enqueue
from app.errors import ChannelUnavailable, Conflict, ValidationFailed
from app.extensions import db
from app.models import Contact, Conversation, Message, Tenant, User
from app.services.contacts import find_or_create_by_phone, get_contact
from app.services.conversations import find_or_start_open_conversation, get_conversation

log = logging.getLogger(__name__)

OPT_OUT_CHANNELS = ("sms", "whatsapp")


def send_message(tenant: Tenant, conversation_id: int, sender: User, body: str) -> tuple[Conversation, Message]:
    """Send `body` from staff into a conversation.

    A closed conversation is reopened; an archived one answers 409. The message is stored before
    anything else can fail: as `sent` on web chat (the widget reads it from here), as `pending` on
    a provider channel, where a worker sends it after the commit.
    """
    conversation = get_conversation(tenant, conversation_id, for_update=True)
    if conversation.status == "archived":
        raise Conflict("This conversation is archived; reopen it to send.", code="conversation_archived")
    ensure_can_send(tenant, conversation.channel, conversation.contact)
    if conversation.status == "closed":
        conversation.status = "open"
    message = _add_outbound(tenant, conversation, sender, body)
    return _commit_and_dispatch(tenant, conversation, message)


def send_to_contact(
    tenant: Tenant, sender: User, *, channel: str, body: str, contact_id: int | None = None, phone: str | None = None
) -> tuple[Conversation, Message]:
    """Send to a contact (by id) or a phone number, in the contact's open conversation on `channel`.

    The contact and the conversation are created when new. Nothing is stored when the send is refused.
    """
    contact = get_contact(tenant, contact_id) if contact_id is not None else None
    ensure_can_send(tenant, channel, contact)
    if contact is None:
        contact = find_or_create_by_phone(tenant, phone)
    conversation = find_or_start_open_conversation(tenant, contact, channel)
    message = _add_outbound(tenant, conversation, sender, body)
    return _commit_and_dispatch(tenant, conversation, message)


def ensure_can_send(tenant: Tenant, channel: str, contact: Contact | None) -> None:
    """Raise unless a staff message on `channel` can reach `contact` for this tenant."""
    if channel == "email":
        raise ChannelUnavailable("Email is not available yet.")
    if channel == "voice":
        raise ChannelUnavailable("A voice conversation cannot carry text; send on sms instead.")
    if channel != "web" and not tenant.sms_provider:
        raise ChannelUnavailable()
    if channel in OPT_OUT_CHANNELS and contact is not None and contact.sms_opted_out:
        raise ValidationFailed("This contact has opted out of text messages (STOP).", code="opted_out")


def list_messages(
    tenant: Tenant, conversation_id: int, *, limit: int, offset: int = 0, before: int | None = None
) -> tuple[list[Message], int, int | None]:
    """A page of a conversation's messages, oldest first within the page.

    Pages run backwards from the newest message: `offset` skips the newest ones, `before` (a
    message id) is a cursor that stays stable while new messages arrive. Returns the messages, the
    total matching, and the cursor for the next (older) page, or None at the start.
    """
    conversation = get_conversation(tenant, conversation_id)
    query = sa.select(Message).where(Message.tenant_id == tenant.id, Message.conversation_id == conversation.id)
    if before is not None:
        query = query.where(Message.id < before)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    newest_first = db.session.scalars(query.order_by(Message.id.desc()).limit(limit).offset(offset)).all()
    has_older = offset + len(newest_first) < total
    next_before = newest_first[-1].id if newest_first and has_older else None
    return list(reversed(newest_first)), total, next_before


def _add_outbound(tenant: Tenant, conversation: Conversation, sender: User, body: str) -> Message:
    via_provider = conversation.channel != "web"
    message = Message(
        tenant_id=tenant.id,
        conversation_id=conversation.id,
        sender_id=sender.id,
        sender_type="staff",
        body=body,
        channel=conversation.channel,
        direction="outbound",
        delivery_status="pending" if via_provider else "sent",
        attachments=[],
    )
    _append(conversation, message)
    return message


def _append(conversation: Conversation, message: Message) -> None:
    """Add `message` and make it the conversation's latest activity."""
    db.session.add(message)
    db.session.flush()
    conversation.last_message_at = message.inserted_at
    conversation.last_message = message


def _commit_and_dispatch(tenant: Tenant, conversation: Conversation, message: Message):
    db.session.commit()
    if message.delivery_status == "pending":
        # After the commit, so the worker finds the row; if the broker is down the sweeper retries.
        enqueue(jobs.SEND_MESSAGE, tenant.id, message.id)
    log.info(
        "message.outbound-accepted",
        extra={"tenant_id": tenant.id, "conversation_id": conversation.id, "message_id": message.id},
    )
    return conversation, message


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
    """Store a message a customer sent (or a call they made), unread, in the right conversation.

    The contact's open conversation on the channel is used, or a new one started; passing
    `conversation` (web chat) uses that one, reopening it if closed.
    """
    if conversation is None:
        conversation = find_or_start_open_conversation(tenant, contact, channel)
    elif conversation.status != "open":
        conversation.status = "open"
    message = Message(
        tenant_id=tenant.id,
        conversation_id=conversation.id,
        sender_type="visitor",
        body=body,
        channel=channel,
        direction="inbound",
        delivery_status="delivered",
        call_duration_seconds=call_duration_seconds,
        recording_url=recording_url,
        attachments=attachments or [],
    )
    _append(conversation, message)
    db.session.commit()
    return conversation, message
