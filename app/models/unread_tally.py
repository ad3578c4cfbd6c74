import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import BigId


class UnreadTally(db.Model):
    """A tenant's unread inbound messages on one channel, outside archived conversations.

    Kept by database triggers (migration 0009a) from each conversation's unread_count, so the badge
    endpoint reads a handful of rows whatever the tenant's history holds.
    """

    __tablename__ = "unread_tallies"

    tenant_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    messages: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="0")
    conversations: Mapped[int] = mapped_column(sa.Integer, nullable=False, server_default="0")
