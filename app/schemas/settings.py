import marshmallow as ma

from app.models.tenant import SMS_PROVIDERS, Tenant
from app.schemas.common import FullMatch, Phone, StrictSchema, column_length
from app.schemas.dumping import OutputSchema

# Secrets go into HTTP headers (Basic auth, Bearer), which carry printable ASCII only: a token with
# "é" or a space in it cannot be right, and must be refused here rather than fail in every send.
TOKEN_CHARACTERS = r"^[\x21-\x7e]+$"


class MessagingSettingsSchema(OutputSchema):
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
    ghl_api_key = ma.fields.String(
        allow_none=True,
        load_only=True,
        validate=[
            ma.validate.Length(min=1, max=2000),  # a Private Integration token, or an OAuth access token (a JWT)
            FullMatch(TOKEN_CHARACTERS, error="Printable ASCII characters only, no spaces."),
        ],
    )
    ghl_location_id = ma.fields.String(
        allow_none=True,
        validate=[
            ma.validate.Length(min=1, max=column_length(Tenant.ghl_location_id)),
            FullMatch(r"^[A-Za-z0-9_-]+$", error="Letters, digits, - and _ only."),
        ],
    )
    twilio_account_sid = ma.fields.String(
        allow_none=True,
        load_only=True,
        validate=[
            ma.validate.Length(min=34, max=34),
            FullMatch(r"^AC[0-9a-fA-F]{32}$", error="AC followed by 32 hexadecimal digits."),
        ],
    )
    twilio_auth_token = ma.fields.String(
        allow_none=True,
        load_only=True,
        validate=[
            ma.validate.Length(min=8, max=128),
            FullMatch(TOKEN_CHARACTERS, error="Printable ASCII characters only, no spaces."),
        ],
    )
    twilio_phone_number = Phone(allow_none=True)
    twilio_messaging_service_sid = ma.fields.String(
        allow_none=True,
        validate=[
            ma.validate.Length(min=34, max=34),
            FullMatch(r"^MG[0-9a-fA-F]{32}$", error="MG followed by 32 hexadecimal digits."),
        ],
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
