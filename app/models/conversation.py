import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym

from app.extensions import db
from app.models.base import BigId, JsonDoc, TenantOwned, Timestamps, partial_index

CHANNELS = ("sms", "voice", "email", "web", "whatsapp")
PROVIDER_CHANNELS = ("sms", "voice", "whatsapp")  # need Twilio or GHL to reach anyone
OPT_OUT_CHANNELS = ("sms", "whatsapp")  # where a contact's STOP applies
STATUSES = ("open", "closed", "archived")


def new_visitor_token() -> str:
    return secrets.token_urlsafe(24)


def visitor_token_digest(token: str) -> str:
    """What is stored in `visitor_token`: the SHA-256 of the token the visitor's browser keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def unusable_visitor_token() -> str:
    # Every conversation gets a digest of a token nobody was given; the widget replaces it when it
    # starts a conversation, so a leaked database holds no working visitor token.
    return visitor_token_digest(new_visitor_token())


class Conversation(TenantOwned, Timestamps, db.Model):
    __tablename__ = "conversations"
    __table_args__ = (
        # The inbox: a tenant's conversations, newest activity first, optionally by status/channel.
        sa.Index("ix_conversations_tenant_activity", "tenant_id", sa.text("last_message_at DESC"), sa.text("id DESC")),
        sa.Index("ix_conversations_tenant_status_activity", "tenant_id", "status", sa.text("last_message_at DESC")),
        sa.Index("ix_conversations_tenant_channel", "tenant_id", "channel"),
        sa.Index("ix_conversations_tenant_contact", "tenant_id", "contact_id"),
        sa.Index("ix_conversations_tenant_assignee", "tenant_id", "assigned_to"),
        # At most one open conversation per contact and channel, so two racing sends or inbound
        # messages for the same contact cannot fork the thread.
        partial_index(
            "uq_conversations_open_per_contact_channel",
            "tenant_id",
            "contact_id",
            "channel",
            where="status = 'open' AND contact_id IS NOT NULL",
            unique=True,
        ),
    )

    channel: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="open")
    phone_number: Mapped[str | None] = mapped_column(sa.String(32))
    visitor_name: Mapped[str | None] = mapped_column(sa.String(200))
    visitor_email: Mapped[str | None] = mapped_column(sa.String(320))
    visitor_phone: Mapped[str | None] = mapped_column(sa.String(32))
    visitor_token: Mapped[str | None] = mapped_column(sa.String(64), unique=True, default=unusable_visitor_token)
    ghl_conversation_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # The provider's own thread id (only GHL keeps threads; the seed's API names the column after it).
    provider_conversation_id = synonym("ghl_conversation_id")
    contact_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("contacts.id", ondelete="SET NULL"))
    assigned_to: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("users.id", ondelete="SET NULL"))
    last_message_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Kept by the service with last_message_at, so a list shows previews without a query per row.
    last_message_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("messages.id", ondelete="SET NULL", use_alter=True, name="fk_conversations_last_message")
    )
    # "metadata" is reserved on declarative classes, hence the attribute name.
    meta: Mapped[dict] = mapped_column("metadata", JsonDoc, nullable=False, default=dict)

    contact = relationship("Contact", lazy="joined")
    last_message = relationship("Message", foreign_keys=[last_message_id], lazy="joined", post_update=True)

    def __repr__(self) -> str:
        return f"<Conversation {self.id} tenant={self.tenant_id} {self.channel}/{self.status}>"
