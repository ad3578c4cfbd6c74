"""Which adapter serves a tenant, built from its settings (secrets decrypted only here, in memory).

The one place that reads `tenant.sms_provider` to pick an adapter. Each kind of provider says which
settings it needs and which changes must be proven with the provider before they take effect.

Adapters are kept per process and per settings, so a worker reuses one Twilio client (and its
pooled HTTP connections) per tenant instead of building one per message; changed settings give
a different key, hence a fresh adapter. Tests swap every tenant's provider at once with
`use_instead(fake)`: the one seam.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app

from app import crypto
from app.models import Tenant
from app.providers.base import MessagingProvider, ProviderDirectory


class ProviderNotConfigured(Exception):
    """The tenant has no provider, or its settings are incomplete or cannot be decrypted."""


@dataclass(frozen=True)
class ProviderKind:
    # Each setting the admin must give (named as in the settings API), with the columns any one of
    # which satisfies it.
    required: dict[str, tuple[str, ...]]
    build: Callable[[Tenant, dict], MessagingProvider]
    # Columns whose change is proven with the provider before it is saved, whatever the admin asked:
    # GHL's webhooks carry no per-tenant secret, so a location id alone would route a location's
    # customers to whichever account claimed it first; only a working API key proves the claim.
    proven_on_change: tuple[str, ...] = ()


def _twilio(tenant: Tenant, config: dict) -> MessagingProvider:
    from app.providers.twilio import TwilioProvider

    return _adapter(
        TwilioProvider,
        secrets=(
            ("account_sid", tenant.twilio_account_sid_encrypted),
            ("auth_token", tenant.twilio_auth_token_encrypted),
        ),
        settings=(
            ("phone_number", tenant.twilio_phone_number),
            ("messaging_service_sid", tenant.twilio_messaging_service_sid),
            ("api_base_url", config["TWILIO_API_BASE_URL"]),
            ("timeout", config["PROVIDER_TIMEOUT_SECONDS"]),
            ("status_callback_url", config["PUBLIC_BASE_URL"].rstrip("/") + "/webhooks/twilio"),
            ("number_rate_limit", config["TWILIO_RATE_LIMIT"]),
            ("service_rate_limit", config["TWILIO_SERVICE_RATE_LIMIT"]),
        ),
    )


def _ghl(tenant: Tenant, config: dict) -> MessagingProvider:
    from app.providers.ghl import GhlProvider

    return _adapter(
        GhlProvider,
        secrets=(("api_key", tenant.ghl_api_key_encrypted),),
        settings=(
            ("location_id", tenant.ghl_location_id),
            ("api_base_url", config["GHL_API_BASE_URL"]),
            ("conversations_version", config["GHL_CONVERSATIONS_VERSION"]),
            ("contacts_version", config["GHL_CONTACTS_VERSION"]),
            ("timeout", config["PROVIDER_TIMEOUT_SECONDS"]),
            ("rate_limit", config["GHL_RATE_LIMIT"]),
        ),
    )


def _simulator(tenant: Tenant, config: dict) -> MessagingProvider:
    from app.providers.simulator import SimulatorProvider

    return SimulatorProvider(report_after=config["SIMULATOR_DELAY_SECONDS"])


KINDS = {
    "twilio": ProviderKind(
        required={
            "twilio_account_sid": ("twilio_account_sid_encrypted",),
            "twilio_auth_token": ("twilio_auth_token_encrypted",),
            "twilio_phone_number": ("twilio_phone_number", "twilio_messaging_service_sid"),
        },
        build=_twilio,
    ),
    "ghl": ProviderKind(
        required={"ghl_api_key": ("ghl_api_key_encrypted",), "ghl_location_id": ("ghl_location_id",)},
        build=_ghl,
        proven_on_change=("sms_provider", "ghl_location_id", "ghl_api_key_encrypted"),
    ),
    "simulator": ProviderKind(required={}, build=_simulator),
}

_substitute: MessagingProvider | None = None


def use_instead(provider: MessagingProvider | None) -> None:
    """Serve every tenant with `provider` (tests), or go back to their settings with None."""
    global _substitute
    _substitute = provider


def has_provider(tenant: Tenant) -> bool:
    """Whether the tenant texts and calls through a provider (standalone accounts do web chat only)."""
    return tenant.sms_provider in KINDS


def missing_settings(tenant: Tenant) -> list[str]:
    """The settings the tenant's provider still needs (none for standalone)."""
    kind = KINDS.get(tenant.sms_provider)
    if kind is None:
        return []
    return [name for name, columns in kind.required.items() if not any(getattr(tenant, c) for c in columns)]


def must_prove(before: Tenant, after: Tenant) -> bool:
    """Whether `after`'s settings change something its provider must confirm before it is saved."""
    kind = KINDS.get(after.sms_provider)
    if kind is None or not current_app.config["REQUIRE_PROVIDER_VERIFICATION"]:
        return False
    return any(getattr(before, column) != getattr(after, column) for column in kind.proven_on_change)


def provider_for(tenant: Tenant) -> MessagingProvider:
    if _substitute is not None:
        return _substitute
    kind = KINDS.get(tenant.sms_provider)
    if kind is None:
        raise ProviderNotConfigured("No messaging provider is configured.")
    if missing := missing_settings(tenant):
        raise ProviderNotConfigured(f"{tenant.sms_provider} needs: {', '.join(missing)}.")
    try:
        return kind.build(tenant, current_app.config)
    except crypto.SecretUnreadable as exc:  # a key was rotated away; its message names no secret
        raise ProviderNotConfigured(str(exc)) from exc


def directory_for(tenant: Tenant) -> ProviderDirectory:
    """The tenant's provider's own contacts and history; ProviderNotConfigured when it keeps none (Twilio)."""
    provider = provider_for(tenant)
    if not isinstance(provider, ProviderDirectory):
        raise ProviderNotConfigured(f"{provider.name} keeps no contacts or history of its own.")
    return provider


# Keyed by the *encrypted* secrets: the cache never holds a plaintext key, only the adapters do.
@lru_cache(maxsize=512)
def _adapter(adapter_class, *, secrets: tuple, settings: tuple) -> MessagingProvider:
    return adapter_class(**{name: crypto.decrypt(value) for name, value in secrets}, **dict(settings))
