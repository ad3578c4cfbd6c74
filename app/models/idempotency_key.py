from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import BigId, TenantOwned, utcnow

KEPT_FOR = timedelta(hours=24)  # how long a key answers with its first message


class IdempotencyKey(TenantOwned, db.Model):
    """An `Idempotency-Key` a client sent with a send, and the message that request created.

    The same key from the same tenant within 24 hours answers with that message again, so a
    retried request never texts a customer twice.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "key", name="uq_idempotency_keys_tenant_key"),)

    key: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    request_fingerprint: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    message_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False)
    inserted_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, nullable=False, index=True
    )
