"""Fields and envelopes shared by every schema."""

from datetime import UTC, datetime
from functools import cache

import marshmallow as ma

from app.phones import InvalidPhoneNumber, normalize_phone


class UtcDateTime(ma.fields.DateTime):
    """ISO 8601 in UTC with a `Z`, to the second: what the mobile app's ISO8601DateFormatter parses."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite drops the zone; we only ever store UTC
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Phone(ma.fields.String):
    """A phone number in any common notation, loaded as E.164."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalize_phone(text)
        except InvalidPhoneNumber as exc:
            raise ma.ValidationError("Not a valid phone number; use E.164, e.g. +15551234567.") from exc


MAX_ID = 2**63 - 1  # PostgreSQL bigint: a larger number cannot name a row, and must not reach the database


class Id(ma.fields.Integer):
    """A row id given by the client: a positive bigint."""

    def __init__(self, **kwargs):
        super().__init__(strict=False, **kwargs)
        self.validators.insert(0, ma.validate.Range(min=1, max=MAX_ID))


class StrictSchema(ma.Schema):
    """Input schemas reject unknown fields: a typo must not be silently ignored."""

    class Meta:
        unknown = ma.RAISE


class QuerySchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE


DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class PageQuery(QuerySchema):
    limit = ma.fields.Integer(
        load_default=DEFAULT_PAGE_SIZE,
        validate=ma.validate.Range(min=1, max=MAX_ID),
        metadata={
            "description": f"Page size; default {DEFAULT_PAGE_SIZE}, larger values are capped at {MAX_PAGE_SIZE}."
        },
    )
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=MAX_ID))

    @ma.post_load
    def cap_limit(self, data, **kwargs):
        data["limit"] = min(data["limit"], MAX_PAGE_SIZE)
        return data


class PageMetaSchema(ma.Schema):
    total = ma.fields.Integer()
    limit = ma.fields.Integer()
    offset = ma.fields.Integer()


def page(rows, total: int, *, limit: int, offset: int = 0, **more_meta) -> dict:
    """A list answer: `{"data": rows, "meta": {"total", "limit", "offset", ...}}`, built here only."""
    return {"data": rows, "meta": {"total": total, "limit": limit, "offset": offset, **more_meta}}


@cache
def envelope(schema: type[ma.Schema], *, many: bool = False, meta: type[ma.Schema] | None = None) -> type:
    """`{"data": ...}` around `schema` (and `"meta"` for lists), named for the OpenAPI document."""
    fields = {"data": ma.fields.Nested(schema, many=many, required=True)}
    if many or meta:
        fields["meta"] = ma.fields.Nested(meta or PageMetaSchema)
    base = schema.__name__.removesuffix("Schema")
    return ma.Schema.from_dict(fields, name=f"{base}{'List' if many else ''}Envelope")


def now() -> datetime:
    return datetime.now(UTC)
