import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import BigId, JsonDoc, Timestamps

SMS_PROVIDERS = ("twilio", "ghl", "simulator")


def new_widget_key() -> str:
    return "wk_" + secrets.token_urlsafe(24)


class Tenant(Timestamps, db.Model):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    # None: standalone (web chat only). Otherwise the provider that sends and receives.
    sms_provider: Mapped[str | None] = mapped_column(sa.String(20))
    # Secrets are stored Fernet-encrypted (app.crypto) and never serialised.
    ghl_api_key_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    ghl_location_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    twilio_account_sid_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    # SHA-256 of the account SID: webhooks find the tenant by AccountSid without decrypting every row.
    twilio_account_sid_digest: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    twilio_auth_token_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    twilio_phone_number: Mapped[str | None] = mapped_column(sa.String(32))
    twilio_messaging_service_sid: Mapped[str | None] = mapped_column(sa.String(64))
    # Inbound calls ring this number (E.164); without one, callers are offered voicemail.
    forwarding_phone_number: Mapped[str | None] = mapped_column(sa.String(32))
    # Record click-to-call conversations; the customer hears a notice first (calls.RECORDING_NOTICE).
    record_calls: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False, server_default=sa.false())
    # Where the GHL backfill stopped, so a rerun resumes instead of starting over.
    ghl_sync_state: Mapped[dict | None] = mapped_column(JsonDoc)
    widget_key: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False, default=new_widget_key)
    # Web chat widget settings (None: the defaults in app.services.webchat).
    widget_allowed_origins: Mapped[list | None] = mapped_column(JsonDoc)  # ["https://shop.example", ...]
    widget_prechat_fields: Mapped[dict | None] = mapped_column(JsonDoc)  # {"name": "required"|"optional"|"off", ...}
    widget_greeting: Mapped[str | None] = mapped_column(sa.String(500))
    widget_color: Mapped[str | None] = mapped_column(sa.String(7))  # "#2563eb"

    def __repr__(self) -> str:
        return f"<Tenant {self.id}>"
