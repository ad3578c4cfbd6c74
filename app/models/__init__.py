"""Every model, imported here so Alembic's autogenerate and the app see the whole schema."""

from app.models.api_token import ApiToken
from app.models.contact import Contact
from app.models.conversation import Conversation
from app.models.device import ConversationMute, Device, NotificationPreference
from app.models.idempotency_key import IdempotencyKey
from app.models.message import Message
from app.models.tenant import Tenant
from app.models.unread_tally import UnreadTally
from app.models.upload import StoredBlob, Upload
from app.models.user import User
from app.models.webhook_event import WebhookEvent

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
    "UnreadTally",
    "User",
    "WebhookEvent",
]
