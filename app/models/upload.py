from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import BigId, TenantOwned, Timestamps, partial_index, utcnow


class Upload(TenantOwned, Timestamps, db.Model):
    """A file staff uploaded to send (a photo, a PDF), kept behind the storage port (app/storage)."""

    __tablename__ = "uploads"
    __table_args__ = (
        sa.Index("ix_uploads_tenant", "tenant_id", "id"),
        # The purge reads only uploads no message carries, by expiry.
        partial_index("ix_uploads_unattached", "public_until", where="attached_at IS NULL"),
    )

    # Names the file in its public URL (/files/<token>/<filename>): unguessable, so only providers
    # handed the URL can fetch it, and only until public_until.
    token: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    filename: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    content_type: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    size: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    storage_key: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    uploaded_by: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("users.id", ondelete="SET NULL"))
    public_until: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    # When a message first carried it; from then on it is kept with the message (the app shows it).
    # One never sent is deleted some time after its URL expired (uploads.purge_unattached).
    attached_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class StoredBlob(db.Model):
    """The PostgreSQL store's files (app/storage/postgres.py): the default when no bucket is configured."""

    __tablename__ = "stored_blobs"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    content_type: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    inserted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, nullable=False)
