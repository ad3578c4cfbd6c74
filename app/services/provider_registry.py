"""Which adapter serves a tenant, built from its settings (secrets decrypted only here, in memory)."""

from flask import current_app

from app import crypto
from app.models import Tenant
from app.providers.base import MessagingProvider


class ProviderNotConfigured(Exception):
    pass


def provider_for(tenant: Tenant) -> MessagingProvider:
    config = current_app.config
    if tenant.sms_provider == "twilio":
        from app.providers.twilio import TwilioProvider

        if not (tenant.twilio_account_sid_encrypted and tenant.twilio_auth_token_encrypted):
            raise ProviderNotConfigured("Twilio account SID and auth token are not set.")
        return TwilioProvider(
            account_sid=crypto.decrypt(tenant.twilio_account_sid_encrypted),
            auth_token=crypto.decrypt(tenant.twilio_auth_token_encrypted),
            phone_number=tenant.twilio_phone_number,
            messaging_service_sid=tenant.twilio_messaging_service_sid,
            api_base_url=config["TWILIO_API_BASE_URL"],
            timeout=config["PROVIDER_TIMEOUT_SECONDS"],
        )
    if tenant.sms_provider == "ghl":
        from app.providers.ghl import GhlProvider

        if not (tenant.ghl_api_key_encrypted and tenant.ghl_location_id):
            raise ProviderNotConfigured("GHL API key and location id are not set.")
        return GhlProvider(
            api_key=crypto.decrypt(tenant.ghl_api_key_encrypted),
            location_id=tenant.ghl_location_id,
            api_base_url=config["GHL_API_BASE_URL"],
            conversations_version=config["GHL_CONVERSATIONS_VERSION"],
            contacts_version=config["GHL_CONTACTS_VERSION"],
            timeout=config["PROVIDER_TIMEOUT_SECONDS"],
        )
    if tenant.sms_provider == "simulator":
        from app.providers.simulator import SimulatorProvider

        return SimulatorProvider(report_after=config["SIMULATOR_DELAY_SECONDS"])
    raise ProviderNotConfigured("No messaging provider is configured.")
