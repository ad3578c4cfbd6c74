"""Turning /admin's HTML forms into the changes the services take (validated by the API's schemas)."""

import marshmallow as ma

from app.errors import ValidationFailed
from app.schemas.settings import MessagingSettingsUpdateSchema
from app.schemas.webchat import WidgetSettingsSchema
from app.services.settings import SECRETS

PLAIN_FIELDS = (
    "ghl_location_id",
    "twilio_phone_number",
    "twilio_messaging_service_sid",
    "forwarding_phone_number",
)


def messaging_changes(form) -> dict:
    """A blank secret field keeps the stored secret (it is never shown, so blank means "unchanged")."""
    raw = {"sms_provider": form.get("sms_provider") or None}
    for name in PLAIN_FIELDS:
        raw[name] = form.get(name, "").strip() or None
    for name in SECRETS:
        if form.get(name, "").strip():
            raw[name] = form[name].strip()
        if form.get(f"clear_{name}"):
            raw[name] = None
    return _load(MessagingSettingsUpdateSchema(), raw)


def widget_changes(form) -> dict:
    origins = [line.strip() for line in form.get("allowed_origins", "").splitlines() if line.strip()]
    raw = {
        "allowed_origins": origins,
        "prechat_fields": {name: form.get(f"prechat_{name}", "off") for name in ("name", "email", "phone")},
        "greeting": form.get("greeting", ""),
        "color": form.get("color", ""),
    }
    return _load(WidgetSettingsSchema(), raw)


def _load(schema, raw: dict) -> dict:
    try:
        return schema.load(raw)
    except ma.ValidationError as exc:
        raise ValidationFailed(fields=exc.messages) from exc
