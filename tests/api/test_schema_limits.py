"""Every string an API client sends is bounded, and never more than the column it is stored in.

The limits are read from the models here, so a schema and its column cannot drift apart: a
longer column is fine, a shorter one (or a new unbounded field) fails this test.
"""

import importlib
import pkgutil

import marshmallow as ma
import pytest
import sqlalchemy as sa

import app.schemas
from app.models import ApiToken, Contact, Conversation, Tenant, User
from app.schemas.common import EdgeSchema, Phone

# Which table each input schema writes to. A field named like one of its columns is stored there.
STORED_IN = {
    "ContactCreateSchema": Contact,
    "ContactUpdateSchema": Contact,
    "ConversationCreateSchema": Conversation,
    "ConversationUpdateSchema": Conversation,
    "LoginSchema": User,
    "MessagingSettingsUpdateSchema": Tenant,
}
# Fields stored under another name.
RENAMED = {("LoginSchema", "token_name"): ApiToken.name}
E164_MAX_LENGTH = 16  # "+" and at most 15 digits


def input_schemas() -> list[type[ma.Schema]]:
    for module in pkgutil.iter_modules(app.schemas.__path__):
        importlib.import_module(f"app.schemas.{module.name}")
    found, todo = [], [EdgeSchema]
    while todo:
        schema = todo.pop()
        for sub in schema.__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("app.schemas") and sub._declared_fields:
                found.append(sub)
    return found


def string_fields(schema: type[ma.Schema]):
    for name, field in schema._declared_fields.items():
        inner = field.inner if isinstance(field, ma.fields.List) else field
        if isinstance(inner, ma.fields.String):
            yield name, inner


def max_length(field: ma.fields.Field) -> int | None:
    limits = [v.max for v in field.validators if isinstance(v, ma.validate.Length) and v.max is not None]
    limits += [max(len(choice) for choice in v.choices) for v in field.validators if isinstance(v, ma.validate.OneOf)]
    return min(limits) if limits else None


def column_length(model, name: str) -> int | None:
    column = sa.inspect(model).columns.get(name)
    return getattr(column.type, "length", None) if column is not None else None


def test_the_walk_finds_the_input_schemas():
    names = {schema.__name__ for schema in input_schemas()}
    assert set(STORED_IN) <= names
    assert {"MessageCreateSchema", "SendSchema", "ConversationListQuery", "ContactListQuery"} <= names


@pytest.mark.parametrize("schema", input_schemas(), ids=lambda schema: schema.__name__)
def test_every_string_field_is_bounded_by_its_column(schema):
    for name, field in string_fields(schema):
        if isinstance(field, Phone):
            # Loaded as E.164, whatever the notation sent; the column must hold that.
            stored = column_length(STORED_IN[schema.__name__], name) if schema.__name__ in STORED_IN else None
            assert stored is None or stored >= E164_MAX_LENGTH, (schema.__name__, name)
            continue
        limit = max_length(field)
        assert limit is not None, f"{schema.__name__}.{name} has no maximum length"
        renamed = RENAMED.get((schema.__name__, name))
        stored = (
            renamed.type.length
            if renamed is not None
            else column_length(STORED_IN[schema.__name__], name)
            if schema.__name__ in STORED_IN
            else None
        )
        if stored is not None:
            assert limit <= stored, f"{schema.__name__}.{name} accepts {limit} characters, its column {stored}"
