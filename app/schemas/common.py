"""Fields and envelopes shared by every schema.

Hostile input is decided here, once, for every API input schema: text PostgreSQL cannot store
(NUL, lone surrogates) is refused with a 422 naming the field; strings are bounded by their
columns (`fits`); ids are integers, never 1.5 or "1"; free-form JSON is bounded in size and depth.
"""

import json
from datetime import UTC, datetime
from functools import cache

import marshmallow as ma
import sqlalchemy as sa

from app.phones import InvalidPhoneNumber, normalize_phone
from app.schemas.dumping import OutputSchema
from app.text import storable


class UtcDateTime(ma.fields.DateTime):
    """ISO 8601 in UTC with a `Z`, to the second: what the mobile app's ISO8601DateFormatter parses."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        # Naive from SQLite, which drops the zone (we only ever store UTC); PostgreSQL's are in the
        # session's zone, UTC. isoformat is C: a page of 50 conversations formats 200 of these.
        if value.tzinfo is not None and value.utcoffset():
            value = value.astimezone(UTC)
        return value.isoformat(timespec="seconds")[:19] + "Z"


UNSTORABLE_TEXT = "Must not contain a NUL character or an unpaired surrogate."


def _unstorable_fields(data) -> dict:
    """{field: [message]} for each top-level field whose value (or key), at any depth, is unstorable."""
    errors = {}
    for key in list(data.keys()):
        if not _storable_value(key) or not _storable_value(data[key]):
            errors[key if storable(str(key)) else repr(key)] = [UNSTORABLE_TEXT]
    return errors


def _storable_value(value) -> bool:
    # Iterative, not recursive: a body nested thousands of levels deep must not exhaust the stack.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not storable(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return True


class EdgeSchema(ma.Schema):
    """Base of every input schema: refuses text that cannot be stored, naming the field (422)."""

    @ma.pre_load
    def refuse_unstorable_text(self, data, **kwargs):
        if hasattr(data, "keys") and (errors := _unstorable_fields(data)):
            raise ma.ValidationError(errors)
        return data


def column_length(attribute) -> int:
    """The declared length of a model's String column (`Contact.email` -> 320)."""
    length = sa.inspect(attribute).property.columns[0].type.length
    if length is None:
        raise ValueError(f"{attribute} is not a bounded String column")
    return length


def fits(attribute) -> ma.validate.Length:
    """The column's own length as the field's limit, so a schema cannot accept what the column refuses."""
    return ma.validate.Length(max=column_length(attribute))


MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 10


class JsonObject(ma.fields.Dict):
    """Free-form JSON (a conversation's `metadata`), bounded: it is served in every list."""

    def __init__(self, *, max_bytes: int = MAX_METADATA_BYTES, max_depth: int = MAX_METADATA_DEPTH, **kwargs):
        kwargs.setdefault(
            "metadata",
            {"description": f"A JSON object, at most {max_bytes} bytes as JSON and {max_depth} levels deep."},
        )
        super().__init__(keys=ma.fields.String(), **kwargs)
        self.max_bytes, self.max_depth = max_bytes, max_depth

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict) and _depth(value, self.max_depth + 1) > self.max_depth:
            raise ma.ValidationError(f"At most {self.max_depth} levels deep.")
        result = super()._deserialize(value, attr, data, **kwargs)
        if len(json.dumps(result, separators=(",", ":")).encode()) > self.max_bytes:
            raise ma.ValidationError(f"At most {self.max_bytes} bytes as JSON.")
        return result


def _depth(value, stop_at: int) -> int:
    """How deep `value` nests (a flat object is 1), counting no further than `stop_at`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest >= stop_at:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


class FullMatch(ma.validate.Regexp):
    """A pattern the whole value must match: `$` alone would let a trailing newline through."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


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
    """A row id in a JSON body: a positive bigint, and a JSON integer (not 1.5, not "1")."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)
        self.validators.insert(0, ma.validate.Range(min=1, max=MAX_ID))


class QueryId(Id):
    """A row id in a query string, where everything is text: digits only (not 1.5, not " 1", not 1_0)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if not (value.isascii() and value.isdigit()):
                raise self.make_error("invalid")
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


class StrictSchema(EdgeSchema):
    """Input schemas reject unknown fields: a typo must not be silently ignored."""

    class Meta:
        unknown = ma.RAISE


class QuerySchema(EdgeSchema):
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


class PageMetaSchema(OutputSchema):
    total = ma.fields.Integer(
        metadata={
            "description": "Rows matching, counted up to 1,000 past this page: a larger list shows that lower bound."
        }
    )
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
    return OutputSchema.from_dict(fields, name=f"{base}{'List' if many else ''}Envelope")


def now() -> datetime:
    return datetime.now(UTC)
