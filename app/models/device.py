"""Phones that receive push notifications, and what each user wants to be told."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import BigId, TenantOwned, Timestamps, tenant_fk, utcnow

PLATFORMS = ("ios", "android")
APNS_ENVIRONMENTS = ("sandbox", "production")


class Device(TenantOwned, Timestamps, db.Model):
    """One app install's push token, owned by the user who registered it last.

    The token is unique across all tenants: a phone that changes hands (or accounts) moves with its
    token, so it can never receive the previous owner's notifications.
    """

    __tablename__ = "devices"
    __table_args__ = (sa.Index("ix_devices_tenant_user", "tenant_id", "user_id"),)

    user_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    # The sign-in that registered it: signing out (revoking that token) unregisters the device.
    api_token_id: Mapped[int | None] = mapped_column(
        BigId, sa.ForeignKey("api_tokens.id", ondelete="SET NULL"), index=True
    )
    token: Mapped[str] = mapped_column(sa.String(512), nullable=False, unique=True)
    platform: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    environment: Mapped[str | None] = mapped_column(sa.String(16))  # APNs sandbox|production; None on Android
    app_id: Mapped[str | None] = mapped_column(sa.String(255))  # iOS bundle id (the apns-topic) / Android package


class NotificationPreference(db.Model):
    """Which pushes a user gets. No row means the defaults: everything on."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = tenant_fk()
    inbound_assigned: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    inbound_unassigned: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    assigned_to_me: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False
    )


class ConversationMute(db.Model):
    """A user who does not want pushes about one conversation (its messages still count in their badge)."""

    __tablename__ = "conversation_mutes"
    __table_args__ = (sa.Index("ix_conversation_mutes_tenant_conversation", "tenant_id", "conversation_id"),)

    user_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = tenant_fk()
    inserted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow, nullable=False)
