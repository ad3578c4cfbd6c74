"""Which adapter serves a tenant, built from its settings (secrets decrypted only here, in memory).

Adapters are kept per process and per settings, so a worker reuses one Twilio client (and its
pooled HTTP connections) per tenant instead of building one per message; changed settings give
a different key, hence a fresh adapter.
"""

from functools import lru_cache

from flask import current_app

from app import crypto
from app.models import Tenant
from app.providers.base import MessagingProvider


class ProviderNotConfigured(Exception):
    pass


def provider_for(tenant: Tenant) -> MessagingProvider:
    config = current_app.config
    if tenant.sms_provider == "twilio":
        if not (tenant.twilio_account_sid_encrypted and tenant.twilio_auth_token_encrypted):
            raise ProviderNotConfigured("Twilio account SID and auth token are not set.")
        return _twilio(
            tenant.twilio_account_sid_encrypted,
            tenant.twilio_auth_token_encrypted,
            tenant.twilio_phone_number,
            tenant.twilio_messaging_service_sid,
            config["TWILIO_API_BASE_URL"],
            config["PROVIDER_TIMEOUT_SECONDS"],
        )
    if tenant.sms_provider == "ghl":
        if not (tenant.ghl_api_key_encrypted and tenant.ghl_location_id):
            raise ProviderNotConfigured("GHL API key and location id are not set.")
        return _ghl(
            tenant.ghl_api_key_encrypted,
            tenant.ghl_location_id,
            config["GHL_API_BASE_URL"],
            config["GHL_CONVERSATIONS_VERSION"],
            config["GHL_CONTACTS_VERSION"],
            config["PROVIDER_TIMEOUT_SECONDS"],
        )
    if tenant.sms_provider == "simulator":
        from app.providers.simulator import SimulatorProvider

        return SimulatorProvider(report_after=config["SIMULATOR_DELAY_SECONDS"])
    raise ProviderNotConfigured("No messaging provider is configured.")


# Keyed by the *encrypted* secrets: the cache never holds a plaintext key, only the adapters do.
@lru_cache(maxsize=512)
def _twilio(sid_encrypted, token_encrypted, phone_number, service_sid, base_url, timeout):
    from app.providers.twilio import TwilioProvider

    return TwilioProvider(
        account_sid=crypto.decrypt(sid_encrypted),
        auth_token=crypto.decrypt(token_encrypted),
        phone_number=phone_number,
        messaging_service_sid=service_sid,
        api_base_url=base_url,
        timeout=timeout,
    )


@lru_cache(maxsize=512)
def _ghl(key_encrypted, location_id, base_url, conversations_version, contacts_version, timeout):
    from app.providers.ghl import GhlProvider

    return GhlProvider(
        api_key=crypto.decrypt(key_encrypted),
        location_id=location_id,
        api_base_url=base_url,
        conversations_version=conversations_version,
        contacts_version=contacts_version,
        timeout=timeout,
    )
