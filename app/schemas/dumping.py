"""Responses dumped by a plan compiled once per schema instance, not by marshmallow's per-field dispatch.

marshmallow dumps each field through `Field.serialize` -> `get_value` -> the schema's accessor ->
`utils.get_value` before the field's own `_serialize`. A plan keeps the schemas as they are (one
contract, one OpenAPI document) and calls the same `_serialize` of each field, but reads each
attribute directly and passes plain strings and integers through. Nested schemas, plain
`ma.Schema` included, get plans of their own, so an envelope of `OutputSchema` makes the whole
answer fast. A 50-conversation list's CPU is 15-20% lower for it (bench/cpu.py, bench/RESULTS.md).

What a plan does not know how to do as marshmallow does (a dump hook, a `dump_default`, a dotted
`attribute`, a schema with its own `get_attribute`) it leaves to marshmallow. The test suite
checks every answer it dumps against marshmallow's own result (`VERIFY`, set by tests/conftest.py).
"""

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow import missing, utils
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from sqlalchemy.orm import QueryableAttribute

# Tests set this: every compiled dump is compared with marshmallow's own, and a difference raises.
VERIFY = False


class OutputSchema(ma.Schema):
    """A response schema whose dumps run on a compiled plan (see the module's docstring)."""

    def _serialize(self, obj, *, many: bool = False):
        dump_one = plan(self)
        dumped = [dump_one(item) for item in obj] if many and obj is not None else dump_one(obj)
        if VERIFY:
            expected = ma.Schema._serialize(self, obj, many=many)
            if dumped != expected:
                raise AssertionError(f"{type(self).__name__}: compiled dump {dumped!r} != marshmallow's {expected!r}")
        return dumped


def plan(schema: ma.Schema) -> Callable[[Any], dict]:
    """The schema's dump of one object, compiled on first use (a compile race builds it twice, harmlessly)."""
    dump_one = schema.__dict__.get("_dump_one")
    if dump_one is None:
        dump_one = schema._dump_one = _compile(schema)
    return dump_one


def _compile(schema: ma.Schema) -> Callable[[Any], dict]:
    steps = [_step(schema, name, field) for name, field in schema.dump_fields.items()]
    dict_class = schema.dict_class

    def dump_one(obj) -> dict:
        dumped = dict_class()
        for key, value_of in steps:
            value = value_of(obj)
            if value is not missing:
                dumped[key] = value
        return dumped

    return dump_one


def _step(schema: ma.Schema, name: str, field: ma.fields.Field) -> tuple[str, Callable[[Any], Any]]:
    key = field.data_key if field.data_key is not None else name
    if not field._CHECK_ATTRIBUTE:  # Function, Method, Constant: computed from the whole object
        return key, lambda obj: field._serialize(None, name, obj)
    attribute = field.attribute or name
    own_accessor = type(schema).get_attribute is not ma.Schema.get_attribute
    if own_accessor or "." in attribute or field.dump_default is not missing:
        return key, lambda obj: field.serialize(name, obj, accessor=schema.get_attribute)
    convert = _converter(field, name)
    readers: dict[type, Callable[[Any], Any]] = {}

    def value_of(obj):
        read = readers.get(type(obj))
        if read is None:
            read = readers[type(obj)] = _reader(type(obj), attribute)
        value = read(obj)
        return missing if value is missing else convert(value, obj)

    return key, value_of


def _reader(kind: type, attribute: str) -> Callable[[Any], Any]:
    """How `utils.get_value` reads `attribute` off objects of this type, decided once per type."""
    if issubclass(kind, dict):
        return lambda obj: obj.get(attribute, missing)
    if issubclass(kind, tuple) and hasattr(kind, "_fields"):  # a named tuple: obj[attribute] is a TypeError
        return lambda obj: getattr(obj, attribute, missing)
    if hasattr(kind, "__getitem__"):  # a Mapping, a sequence, a Row: marshmallow tries obj[attribute] first
        return lambda obj: utils.get_value(obj, attribute, missing)
    if isinstance(getattr(kind, attribute, None), QueryableAttribute):
        # A mapped column or relationship keeps its loaded value in the instance's __dict__ (what
        # its descriptor returns); one not loaded yet goes through the descriptor, which loads it.
        def mapped(obj):
            try:
                return obj.__dict__[attribute]
            except KeyError:
                return getattr(obj, attribute, missing)

        return mapped
    return lambda obj: getattr(obj, attribute, missing)


def _converter(field: ma.fields.Field, name: str) -> Callable[[Any, Any], Any]:
    """(value, obj) -> what the field's `_serialize` returns for it."""
    serialize = field._serialize
    kind = type(field)
    if kind is ma.fields.String:
        return lambda value, obj: value if value is None or type(value) is str else serialize(value, name, obj)
    if kind is ma.fields.Integer and not field.as_string:
        return lambda value, obj: value if value is None or type(value) is int else serialize(value, name, obj)
    if kind is ma.fields.Nested and _plain(field.schema):
        dump_one = plan(field.schema)
        if field.schema.many or field.many:
            return lambda value, obj: None if value is None else [dump_one(item) for item in value]
        return lambda value, obj: None if value is None else dump_one(value)
    if kind is ma.fields.List:
        inner = _converter(field.inner, name)
        return lambda value, obj: None if value is None else [inner(item, obj) for item in value]
    return lambda value, obj: serialize(value, name, obj)


def _plain(schema: ma.Schema) -> bool:
    """Whether a nested schema dumps as its fields alone (no hooks, marshmallow's own `_serialize`)."""
    hooks = schema._hooks
    compiled_or_stock = type(schema)._serialize in (ma.Schema._serialize, OutputSchema._serialize)
    return compiled_or_stock and not hooks[PRE_DUMP] and not hooks[POST_DUMP]
