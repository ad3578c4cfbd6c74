"""Inbound: what customers send or call in, from any provider, through one path."""

import logging

from app.extensions import db
from app.models import Contact, Conversation, Message, Tenant
from app.services.conversations import append_message, find_or_start_open_conversation

log = logging.getLogger(__name__)


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
    append_message(conversation, message)
    db.session.commit()
    return conversation, message
