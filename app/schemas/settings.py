import marshmallow as ma

from app.models.tenant import SMS_PROVIDERS
from app.schemas.common import Phone, StrictSchema


class MessagingSettingsSchema(ma.Schema):
    """What an admin sees: every setting except the secrets, which only say whether they are set."""

    sms_provider = ma.fields.String(allow_none=True, metadata={"enum": [None, *SMS_PROVIDERS]})
    ghl_location_id = ma.fields.String(allow_none=True)
    ghl_api_key_set = ma.fields.Boolean()
    twilio_phone_number = ma.fields.String(allow_none=True)
    twilio_messaging_service_sid = ma.fields.String(allow_none=True)
    twilio_account_sid_set = ma.fields.Boolean()
    twilio_auth_token_set = ma.fields.Boolean()
    forwarding_phone_number = ma.fields.String(allow_none=True)
    record_calls = ma.fields.Boolean()
    webhook_urls = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.String(), metadata={"description": "URLs to enter at the provider."}
    )


class MessagingSettingsUpdateSchema(StrictSchema):
    """Secrets are write-only: send one to set it, null to clear it, leave it out to keep it."""

    sms_provider = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(SMS_PROVIDERS))
    ghl_api_key = ma.fields.String(allow_none=True, load_only=True, validate=ma.validate.Length(min=1, max=500))
    ghl_location_id = ma.fields.String(allow_none=True, validate=ma.validate.Length(min=1, max=64))
    twilio_account_sid = ma.fields.String(
        allow_none=True, load_only=True, validate=ma.validate.Regexp(r"^AC[0-9a-fA-F]{32}$", error="Starts with AC.")
    )
    twilio_auth_token = ma.fields.String(allow_none=True, load_only=True, validate=ma.validate.Length(min=8, max=128))
    twilio_phone_number = Phone(allow_none=True)
    twilio_messaging_service_sid = ma.fields.String(
        allow_none=True, validate=ma.validate.Regexp(r"^MG[0-9a-fA-F]{32}$", error="Starts with MG.")
    )
    forwarding_phone_number = Phone(
        allow_none=True, metadata={"description": "Inbound calls ring this number; without one they go to voicemail."}
    )
    record_calls = ma.fields.Boolean(
        metadata={"description": "Record calls placed from the app; the customer hears a recording notice first."}
    )


class VerifyQuery(ma.Schema):
    verify = ma.fields.Boolean(
        load_default=False, metadata={"description": "Check the credentials against the provider before saving."}
    )
