import re

import marshmallow as ma

from app.models.device import APNS_ENVIRONMENTS, PLATFORMS, Device
from app.schemas.common import StrictSchema, UtcDateTime, fits
from app.schemas.dumping import OutputSchema

# APNs tokens are hex (32 bytes today; Apple warns the length may grow). FCM registration tokens are
# URL-safe text with a colon, about 160 characters.
APNS_TOKEN = re.compile(r"^[0-9a-fA-F]{64,200}$")
FCM_TOKEN = re.compile(r"^[A-Za-z0-9_:\-.]{32,512}$")
BUNDLE_ID = re.compile(r"^[A-Za-z0-9\-.]{1,255}$")


class DeviceCreateSchema(StrictSchema):
    token = ma.fields.String(
        required=True,
        validate=fits(Device.token),
        metadata={"description": "The APNs device token (hex) or FCM token."},
    )
    platform = ma.fields.String(required=True, validate=ma.validate.OneOf(PLATFORMS))
    environment = ma.fields.String(
        validate=ma.validate.OneOf(APNS_ENVIRONMENTS),
        metadata={"description": "iOS only: `sandbox` for development builds; default `production`."},
    )
    app_id = ma.fields.String(
        validate=[fits(Device.app_id), ma.validate.Regexp(BUNDLE_ID, error="Not a bundle id.")],
        metadata={"description": "The app's bundle id (iOS, used as apns-topic) or Android package name."},
    )

    @ma.validates_schema
    def token_fits_platform(self, data, **kwargs):
        token, platform = data.get("token", ""), data.get("platform")
        if platform == "ios" and not APNS_TOKEN.match(token):
            raise ma.ValidationError("An iOS device token is hexadecimal, 64 characters or more.", "token")
        if platform == "android" and not FCM_TOKEN.match(token):
            raise ma.ValidationError("Not an FCM registration token.", "token")
        if platform == "android" and "environment" in data:
            raise ma.ValidationError("Only iOS devices have an APNs environment.", "environment")

    @ma.post_load
    def default_environment(self, data, **kwargs):
        if data["platform"] == "ios":
            data.setdefault("environment", "production")
            data["token"] = data["token"].lower()  # one spelling per token, so re-registering finds it
        return data


class DeviceSchema(OutputSchema):
    id = ma.fields.Integer()
    token = ma.fields.String()
    platform = ma.fields.String()
    environment = ma.fields.String(allow_none=True)
    app_id = ma.fields.String(allow_none=True)
    inserted_at = UtcDateTime()
    updated_at = UtcDateTime()


class NotificationPreferencesSchema(OutputSchema):
    inbound_assigned = ma.fields.Boolean(
        metadata={"description": "A customer writes in a conversation assigned to me."}
    )
    inbound_unassigned = ma.fields.Boolean(metadata={"description": "A customer writes in an unassigned conversation."})
    assigned_to_me = ma.fields.Boolean(metadata={"description": "Someone assigns a conversation to me."})
    muted_conversation_ids = ma.fields.List(
        ma.fields.Integer(), metadata={"description": "Conversations I get no alerts about (PUT .../mute)."}
    )


class NotificationPreferencesUpdateSchema(StrictSchema):
    inbound_assigned = ma.fields.Boolean()
    inbound_unassigned = ma.fields.Boolean()
    assigned_to_me = ma.fields.Boolean()


class MuteSchema(OutputSchema):
    conversation_id = ma.fields.Integer()
    muted = ma.fields.Boolean()
