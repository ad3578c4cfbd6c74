"""A tenant's messaging settings: which provider, and its credentials (encrypted, write-only)."""

import hashlib
import logging

import sqlalchemy as sa
from flask import current_app

from app import crypto
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import Tenant
from app.providers.base import ProviderError
from app.services.provider_registry import ProviderNotConfigured, provider_for

log = logging.getLogger(__name__)

SECRETS = {
    "ghl_api_key": "ghl_api_key_encrypted",
    "twilio_account_sid": "twilio_account_sid_encrypted",
    "twilio_auth_token": "twilio_auth_token_encrypted",
}
PLAIN = (
    "sms_provider",
    "ghl_location_id",
    "twilio_phone_number",
    "twilio_messaging_service_sid",
    "forwarding_phone_number",
)


def messaging_settings(tenant: Tenant) -> dict:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return {
        **{name: getattr(tenant, name) for name in PLAIN},
        **{f"{name}_set": getattr(tenant, column) is not None for name, column in SECRETS.items()},
        "webhook_urls": {"twilio": f"{base}/webhooks/twilio", "ghl": f"{base}/webhooks/ghl"},
    }


def update_messaging_settings(tenant: Tenant, changes: dict, *, verify: bool = False) -> dict:
    """Apply `changes`; with `verify`, only after the provider accepted the credentials.

    Connecting a GHL location is always verified (unless REQUIRE_PROVIDER_VERIFICATION is off):
    GHL's webhooks carry no per-tenant secret, so the location id alone routes a location's
    customers to an account, and only a working API key for it proves the account may have them.
    """
    candidate = _with_changes(tenant, changes)
    _check_complete(candidate)
    if candidate.sms_provider and (verify or _connects_a_ghl_location(tenant, candidate)):
        db.session.commit()  # hold no transaction while the provider answers
        _verify(candidate)
    for column in _changed_columns(changes):  # only these: a concurrent edit of the others stays
        setattr(tenant, column, getattr(candidate, column))
    try:
        db.session.commit()
    except sa.exc.IntegrityError as exc:
        db.session.rollback()
        raise Conflict(
            "This GHL location is already connected to another account.",
            code="ghl_location_taken",
            fields={"ghl_location_id": ["Already connected to another account."]},
        ) from exc
    log.info("settings.messaging-updated", extra={"tenant_id": tenant.id, "fields": sorted(changes)})
    return messaging_settings(tenant)


_COLUMNS = (*PLAIN, *SECRETS.values(), "twilio_account_sid_digest")


def _changed_columns(changes: dict) -> list[str]:
    columns = [SECRETS.get(name, name) for name in changes]
    return [*columns, "twilio_account_sid_digest"] if "twilio_account_sid" in changes else columns


def _with_changes(tenant: Tenant, changes: dict) -> Tenant:
    """A detached copy of the tenant's settings with `changes` applied (secrets encrypted)."""
    candidate = Tenant(id=tenant.id, **{column: getattr(tenant, column) for column in _COLUMNS})
    for name in PLAIN:
        if name in changes:
            setattr(candidate, name, changes[name])
    for name, column in SECRETS.items():
        if name in changes:
            setattr(candidate, column, crypto.encrypt(changes[name]) if changes[name] else None)
    if "twilio_account_sid" in changes:
        candidate.twilio_account_sid_digest = account_sid_digest(changes["twilio_account_sid"])
    return candidate


def _connects_a_ghl_location(tenant: Tenant, candidate: Tenant) -> bool:
    if candidate.sms_provider != "ghl" or not current_app.config["REQUIRE_PROVIDER_VERIFICATION"]:
        return False
    return (tenant.sms_provider, tenant.ghl_location_id, tenant.ghl_api_key_encrypted) != (
        "ghl",
        candidate.ghl_location_id,
        candidate.ghl_api_key_encrypted,
    )


def account_sid_digest(account_sid: str | None) -> str | None:
    """How Twilio webhooks find a tenant by AccountSid without decrypting every tenant's secrets."""
    return hashlib.sha256(account_sid.encode()).hexdigest() if account_sid else None


def _check_complete(tenant: Tenant) -> None:
    missing = []
    if tenant.sms_provider == "twilio":
        if not tenant.twilio_account_sid_encrypted:
            missing.append("twilio_account_sid")
        if not tenant.twilio_auth_token_encrypted:
            missing.append("twilio_auth_token")
        if not (tenant.twilio_phone_number or tenant.twilio_messaging_service_sid):
            missing.append("twilio_phone_number")
    elif tenant.sms_provider == "ghl":
        if not tenant.ghl_api_key_encrypted:
            missing.append("ghl_api_key")
        if not tenant.ghl_location_id:
            missing.append("ghl_location_id")
    if missing:
        raise ValidationFailed(
            f"{tenant.sms_provider} needs these settings.",
            fields={name: ["Required for this provider."] for name in missing},
        )


def _verify(tenant: Tenant) -> None:
    try:
        provider_for(tenant).verify_credentials()
    except (ProviderError, ProviderNotConfigured) as exc:
        transient = isinstance(exc, ProviderError) and exc.transient
        # The provider's words can be shown; our secrets never are part of them.
        raise ValidationFailed(
            "The provider could not be reached; try again." if transient else "The provider refused these credentials.",
            code="provider_unreachable" if transient else "provider_credentials_invalid",
        ) from exc


def rotate_secrets() -> int:
    """Re-encrypt every stored secret under the newest ENCRYPTION_KEYS key. Returns how many."""
    rotated = 0
    for tenant in db.session.scalars(sa.select(Tenant).order_by(Tenant.id)):
        for column in SECRETS.values():
            value = getattr(tenant, column)
            if value:
                setattr(tenant, column, crypto.rotate(value))
                rotated += 1
    db.session.commit()
    return rotated
