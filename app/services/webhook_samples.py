"""Signed sample webhooks, so an operator can try the receiving side without a phone."""

import shlex
import uuid
from urllib.parse import urlencode

from flask import current_app
from twilio.request_validator import RequestValidator

from app import crypto
from app.errors import ValidationFailed
from app.models import Tenant


def signed_twilio_sms(tenant: Tenant, *, sender: str, body: str, base_url: str | None = None) -> str:
    """A curl command posting an inbound SMS signed with the tenant's auth token, exactly as Twilio signs it."""
    if tenant.sms_provider != "twilio" or not (
        tenant.twilio_account_sid_encrypted and tenant.twilio_auth_token_encrypted
    ):
        raise ValidationFailed("This tenant is not configured for Twilio (sms_provider, account SID, auth token).")
    public_url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/webhooks/twilio"
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": crypto.decrypt(tenant.twilio_account_sid_encrypted),
        "MessagingServiceSid": tenant.twilio_messaging_service_sid or "",
        "From": sender,
        "To": tenant.twilio_phone_number or "",
        "Body": body,
        "NumMedia": "0",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(crypto.decrypt(tenant.twilio_auth_token_encrypted)).compute_signature(
        public_url, params
    )
    target = (base_url.rstrip("/") + "/webhooks/twilio") if base_url else public_url
    return (
        f"curl -sS -X POST {shlex.quote(target)} "
        f"-H {shlex.quote('X-Twilio-Signature: ' + signature)} "
        f"--data {shlex.quote(urlencode(params))}"
    )
