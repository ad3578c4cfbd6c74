"""Every model, imported here so Alembic's autogenerate and the app see the whole schema."""

import sqlalchemy as sa
from sqlalchemy.orm import column_property

from app.models.api_token import ApiToken
from app.models.contact import Contact
from app.models.conversation import Conversation
from app.models.device import ConversationMute, Device, NotificationPreference
from app.models.idempotency_key import IdempotencyKey
from app.models.message import Message
from app.models.tenant import Tenant
from app.models.upload import StoredBlob, Upload
from app.models.user import User
from app.models.webhook_event import WebhookEvent

# Inbound messages nobody has read, computed in the same SELECT that loads the conversation
# (served by the partial index ix_messages_unread), so it is never stale and never N+1.
Conversation.unread_count = column_property(
    sa.select(sa.func.count(Message.id))
    .where(Message.conversation_id == Conversation.id, Message.direction == "inbound", Message.read_at.is_(None))
    .correlate_except(Message)
    .scalar_subquery()
)

__all__ = [
    "ApiToken",
    "Contact",
    "Conversation",
    "ConversationMute",
    "Device",
    "IdempotencyKey",
    "Message",
    "NotificationPreference",
    "StoredBlob",
    "Tenant",
    "Upload",
    "User",
    "WebhookEvent",
]
