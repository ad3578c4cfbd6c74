import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym

from app.extensions import db
from app.models.base import (
    BigId,
    JsonDoc,
    TenantOwned,
    Timestamps,
    partial_index,
    search_text,
    trigram_index,
    utcnow,
)

CHANNELS = ("sms", "voice", "email", "web", "whatsapp")
PROVIDER_CHANNELS = ("sms", "voice", "whatsapp")  # need Twilio or GHL to reach anyone
OPT_OUT_CHANNELS = ("sms", "whatsapp")  # where a contact's STOP applies
STATUSES = ("open", "closed", "archived")


def activity_index(name: str, *columns: str, include: tuple[str, ...] = ()) -> sa.Index:
    """The inbox order (newest activity first, id breaking ties) after a tenant and optional filters.

    `include` stores other filters' values in the index (PostgreSQL), so a page and its count under
    two filters (`channel=sms&status=open`) are read from the index alone, not from every row.
    """
    return sa.Index(
        name,
        "tenant_id",
        *columns,
        sa.text("last_message_at DESC"),
        sa.text("id DESC"),
        postgresql_include=list(include),
    )


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
        # Each filter the app uses has an index that also orders its page, so a page (and the keyset
        # cursor after it) reads only its own rows, however large the tenant.
        activity_index("ix_conversations_tenant_activity"),
        activity_index("ix_conversations_tenant_status_activity", "status", include=("channel", "assigned_to")),
        activity_index("ix_conversations_tenant_channel_activity", "channel", include=("status", "assigned_to")),
        activity_index("ix_conversations_tenant_assignee_activity", "assigned_to", include=("status", "channel")),
        # A contact's conversations, in inbox order; a search reads (id, time) of every conversation
        # of its matching contacts from here alone (an index-only scan, no visit to each row).
        activity_index("ix_conversations_tenant_contact_activity", "contact_id"),
        # Badges per assignee read only the conversations with something unread.
        partial_index(
            "ix_conversations_unread",
            "tenant_id",
            "assigned_to",
            "unread_count",
            where="unread_count > 0 AND status <> 'archived'",
        ),
        trigram_index("ix_conversations_search_trgm", "search_text"),
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
    last_message_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, default=utcnow)
    # Kept by the service with last_message_at, so a list shows previews without a query per row.
    last_message_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("messages.id", ondelete="SET NULL", use_alter=True, name="fk_conversations_last_message")
    )
    # Inbound messages nobody has read. Kept by database triggers on messages (migration 0009a), so
    # no code path (a webhook, the GHL sync, a bulk read) can leave it wrong; the ORM only reads it.
    unread_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="0", default=0)
    # What `search=` matches for a web visitor or a phone thread, in one column a trigram index serves.
    search_text: Mapped[str] = mapped_column(
        sa.Text,
        sa.Computed(search_text("visitor_name", "visitor_email", "visitor_phone", "phone_number"), persisted=True),
    )
    # "metadata" is reserved on declarative classes, hence the attribute name.
    meta: Mapped[dict] = mapped_column("metadata", JsonDoc, nullable=False, default=dict)

    contact = relationship("Contact", lazy="joined")
    last_message = relationship("Message", foreign_keys=[last_message_id], lazy="joined", post_update=True)

    def __repr__(self) -> str:
        return f"<Conversation {self.id} tenant={self.tenant_id} {self.channel}/{self.status}>"
