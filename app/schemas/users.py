import marshmallow as ma

from app.models import ApiToken, User
from app.schemas.common import Id, Phone, StrictSchema, UtcDateTime, fits
from app.schemas.dumping import OutputSchema


class UserSchema(OutputSchema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    email = ma.fields.String()
    role = ma.fields.String()
    phone = ma.fields.String(allow_none=True, metadata={"description": "Click-to-call rings this phone first."})


class UserUpdateSchema(StrictSchema):
    phone = Phone(
        required=True, allow_none=True, metadata={"description": "Your own phone (E.164), rung first by click-to-call."}
    )


class TenantSummarySchema(OutputSchema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    sms_provider = ma.fields.String(allow_none=True)


class MeSchema(UserSchema):
    tenant = ma.fields.Nested(TenantSummarySchema)


class LoginSchema(StrictSchema):
    email = ma.fields.Email(required=True, validate=fits(User.email))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=1, max=200))
    tenant_id = Id(metadata={"description": "Only needed when the email exists in two accounts."})
    token_name = ma.fields.String(load_default="mobile", validate=fits(ApiToken.name))


class LoginResultSchema(OutputSchema):
    token = ma.fields.String(metadata={"description": "Shown once; send it as `Authorization: Bearer <token>`."})
    user = ma.fields.Nested(MeSchema)
    inserted_at = UtcDateTime()


class TokenSchema(OutputSchema):
    """A signed-in device or script: never the token itself, which only its owner saw once."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    inserted_at = UtcDateTime()
    last_used_at = UtcDateTime(allow_none=True)
    expires_at = UtcDateTime(metadata={"description": "When it stops working unless used before then."})
    current = ma.fields.Boolean(metadata={"description": "The token this request was made with."})
