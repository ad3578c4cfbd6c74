from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import JsonDoc, TenantOwned, partial_index, utcnow

EVENT_STATES = ("received", "processing", "processed", "failed")
# Events stored and never yet taken by a worker (services/webhook_events.py takes a tenant's in
# turn), written once for the partial index and the query alike.
NEW_EVENT = "state = 'received' AND claimed_at IS NULL"


class WebhookEvent(TenantOwned, db.Model):
    """A provider's webhook delivery, stored (verified, deduplicated) before it is processed.

    `event_key` is the provider's own identity for the event (Twilio: MessageSid plus status;
    GHL: webhookId), so a redelivery finds its twin and changes nothing. It is unique per tenant:
    another tenant who learns one of your MessageSids cannot get your genuine event dropped as
    a duplicate by sending theirs first. A failed event keeps its
    payload and error for a retry or `flask --app wsgi webhooks replay`.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "provider", "event_key", name="uq_webhook_events_tenant_provider_key"),
        sa.Index("ix_webhook_events_state_received", "state", "received_at"),
        # A tenant's new events, oldest first: a handful at any time, however long the history.
        partial_index("ix_webhook_events_new", "tenant_id", "id", where=NEW_EVENT),
    )

    provider: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    event_key: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    event_type: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    payload: Mapped[dict] = mapped_column(JsonDoc, nullable=False)
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="received")
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, nullable=False)
    # When its processing was last handed to the broker (None: that failed) and last taken up by a
    # worker: the retry task re-enqueues only what is lost, stuck or failed, never a queued backlog.
    enqueued_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
