"""A tenant's messaging settings: which provider, and its credentials (encrypted, write-only)."""

import hashlib
import logging

import sqlalchemy as sa
from flask import current_app

from app import crypto
from app.errors import ValidationFailed
from app.extensions import db
from app.models import Tenant
from app.providers.base import ProviderError
from app.services.provider_registry import ProviderNotConfigured, missing_settings, must_prove, provider_for
from app.services.unit_of_work import commit_step, ghl_location_taken, use_case

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
    "record_calls",
)


def messaging_settings(tenant: Tenant) -> dict:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return {
        **{name: getattr(tenant, name) for name in PLAIN},
        **{f"{name}_set": getattr(tenant, column) is not None for name, column in SECRETS.items()},
        "webhook_urls": {"twilio": f"{base}/webhooks/twilio", "ghl": f"{base}/webhooks/ghl"},
    }


@use_case(conflict=ghl_location_taken)
def update_messaging_settings(tenant: Tenant, changes: dict, *, verify: bool = False) -> dict:
    """Apply `changes`; with `verify`, only after the provider accepted the credentials.

    Some changes are always proven with the provider first (connecting a GHL location; see
    provider_registry.ProviderKind), unless REQUIRE_PROVIDER_VERIFICATION is off.
    """
    candidate = _with_changes(tenant, changes)
    if missing := missing_settings(candidate):
        raise ValidationFailed(
            f"{candidate.sms_provider} needs these settings.",
            fields={name: ["Required for this provider."] for name in missing},
        )
    if candidate.sms_provider and (verify or must_prove(tenant, candidate)):
        commit_step()  # hold no transaction while the provider answers
        _verify(candidate)
    for column in _changed_columns(changes):  # only these: a concurrent edit of the others stays
        setattr(tenant, column, getattr(candidate, column))
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


def account_sid_digest(account_sid: str | None) -> str | None:
    """How Twilio webhooks find a tenant by AccountSid without decrypting every tenant's secrets."""
    return hashlib.sha256(account_sid.encode()).hexdigest() if account_sid else None


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


@use_case
def rotate_secrets() -> int:
    """Re-encrypt every stored secret under the newest ENCRYPTION_KEYS key. Returns how many."""
    rotated = 0
    for tenant in db.session.scalars(sa.select(Tenant).order_by(Tenant.id)):
        for column in SECRETS.values():
            value = getattr(tenant, column)
            if value:
                setattr(tenant, column, crypto.rotate(value))
                rotated += 1
    return rotated
