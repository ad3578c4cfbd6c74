from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import BigId, JsonDoc, TenantOwned, Timestamps, partial_index

DIRECTIONS = ("inbound", "outbound")
SENDER_TYPES = ("visitor", "staff", "system")
DELIVERY_STATUSES = ("pending", "sent", "delivered", "read", "failed")
# Outbound messages waiting for a send task to claim them (services/delivery.py), written once for
# the partial index and the query alike: the planner uses the index only for the same predicate.
DUE_TO_SEND = "direction = 'outbound' AND delivery_status = 'pending' AND claimed_at IS NULL"


class Message(TenantOwned, Timestamps, db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        # A conversation's history in time order (backfilled history included), and the `before` cursor.
        sa.Index("ix_messages_conversation_time", "conversation_id", "inserted_at", "id"),
        # Unread badges: inbound messages nobody has read yet.
        partial_index(
            "ix_messages_unread",
            "tenant_id",
            "conversation_id",
            where="direction = 'inbound' AND read_at IS NULL",
        ),
        # The sweeper and the status poller scan only outbound messages still in flight.
        partial_index(
            "ix_messages_in_flight",
            "delivery_status",
            "inserted_at",
            where="direction = 'outbound' AND delivery_status IN ('pending', 'sent')",
        ),
        # A tenant's sends waiting for a worker, oldest first (a send task takes them one by one).
        partial_index("ix_messages_due", "tenant_id", "id", where=DUE_TO_SEND),
        # A provider's id names one message: a redelivered or replayed event cannot store it twice.
        partial_index(
            "uq_messages_tenant_provider_id",
            "tenant_id",
            "provider_message_id",
            where="provider_message_id IS NOT NULL",
            unique=True,
        ),
        # Voicemails still without their words (services/transcripts.py asks the provider for them).
        partial_index(
            "ix_messages_transcript_due",
            "inserted_at",
            where="channel = 'voice' AND recording_url IS NOT NULL AND transcript IS NULL",
        ),
        # Inbound media still to be copied into our storage (services/media_copies.py).
        partial_index(
            "ix_messages_media_to_copy",
            "inserted_at",
            where="direction = 'inbound' AND media_copied_at IS NULL AND attachments <> '[]'",
        ),
        partial_index(
            "uq_messages_tenant_ghl_id",
            "tenant_id",
            "ghl_message_id",
            where="ghl_message_id IS NOT NULL",
            unique=True,
        ),
    )

    conversation_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    sender_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("users.id", ondelete="SET NULL"))
    sender_type: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    channel: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    direction: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    delivery_status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="pending")
    ghl_message_id: Mapped[str | None] = mapped_column(sa.String(64))
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(64))  # e.g. Twilio's SM...
    call_duration_seconds: Mapped[int | None] = mapped_column(sa.Integer)
    recording_url: Mapped[str | None] = mapped_column(sa.Text)
    # A voicemail's words, from the provider's transcription (the body shows them too).
    transcript: Mapped[str | None] = mapped_column(sa.Text)
    # When to ask the provider for a voicemail's transcript again (providers that are asked: GHL).
    transcript_next_check_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # A click-to-call's legs as the provider reported them ({"staff": status, "customer": status,
    # "customer_seconds": n}): the message's outcome is computed from all of them, in any order.
    call_details: Mapped[dict | None] = mapped_column(JsonDoc)
    # An inbound message's media, copied into our storage so they outlive the provider's retention:
    # when a copy task took them, and when they were done (each attachment then has `stored_key`).
    media_copy_claimed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    media_copied_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    attachments: Mapped[list] = mapped_column(JsonDoc, nullable=False, default=list)
    error_code: Mapped[str | None] = mapped_column(sa.String(32))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    send_attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    # The send pipeline's bookkeeping: a worker claims a pending message (claimed_at) before it
    # calls the provider, so no second worker sends it; a retry waits until next_attempt_at.
    claimed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # When a send task was last handed to the broker (None: the hand-off failed). The sweeper
    # re-enqueues only what was never queued or queued long ago, not a healthy backlog.
    enqueued_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    status_checked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<Message {self.id} conv={self.conversation_id} {self.direction}/{self.delivery_status}>"
