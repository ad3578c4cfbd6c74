"""The widget's public API: what a visitor's browser sends and receives."""

import marshmallow as ma

from app.models import Tenant
from app.schemas.common import QuerySchema, StrictSchema, fits

VISITOR_MESSAGE_MAX_LENGTH = 2000


class StartSchema(StrictSchema):
    name = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=200))
    email = ma.fields.Email(allow_none=True, validate=ma.validate.Length(max=320))
    phone = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=32))

    @ma.pre_load
    def blank_is_none(self, data, **kwargs):
        if isinstance(data, dict):
            return {
                key: (None if isinstance(value, str) and not value.strip() else value) for key, value in data.items()
            }
        return data


class VisitorMessageSchema(StrictSchema):
    # Stored and served exactly as typed: the widget shows it with textContent, never as HTML.
    message = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=VISITOR_MESSAGE_MAX_LENGTH))

    @ma.validates("message")
    def not_blank(self, value, **kwargs):
        if not value.strip():
            raise ma.ValidationError("Write something first.")


class MessagesQuery(QuerySchema):
    after = ma.fields.Integer(validate=ma.validate.Range(min=0, max=2**63 - 1))


class WidgetSettingsSchema(StrictSchema):
    allowed_origins = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(max=300)), validate=ma.validate.Length(max=50)
    )
    prechat_fields = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    greeting = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=500))
    color = ma.fields.String(
        allow_none=True,
        validate=[fits(Tenant.widget_color), ma.validate.Regexp(r"^#[0-9a-fA-F]{6}$", error="A colour like #2563eb.")],
    )
