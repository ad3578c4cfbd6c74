"""The compiled dump plans answer exactly what marshmallow would, field kind by field kind."""

from collections import namedtuple
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import marshmallow as ma
import pytest

from app.schemas import dumping
from app.schemas.common import UtcDateTime
from app.schemas.dumping import OutputSchema


class Tag(ma.Schema):  # a plain marshmallow schema, nested: it gets a plan too
    name = ma.fields.String()


class Hooked(ma.Schema):
    name = ma.fields.String()

    @ma.post_dump
    def shout(self, data, **kwargs):
        return {**data, "name": data["name"].upper()}


class Item(OutputSchema):
    id = ma.fields.Integer()
    id_text = ma.fields.Integer(attribute="id", as_string=True, dump_only=True)
    title = ma.fields.String(allow_none=True)
    renamed = ma.fields.String(attribute="title", data_key="heading", dump_only=True)
    count = ma.fields.Integer()
    flag = ma.fields.Boolean()
    when = UtcDateTime(allow_none=True)
    tags = ma.fields.List(ma.fields.Nested(Tag))
    first_tag = ma.fields.Nested(Tag, allow_none=True)
    all_tags = ma.fields.Nested(Tag, many=True, attribute="tags", dump_only=True)
    hooked = ma.fields.Nested(Hooked, attribute="first_tag", allow_none=True, dump_only=True)
    meta = ma.fields.Dict()
    short = ma.fields.Function(lambda item: (item.title or "")[:3])
    method = ma.fields.Method("describe")
    absent = ma.fields.String()  # the object has no such attribute: left out
    defaulted = ma.fields.String(dump_default="d")
    dotted = ma.fields.String(attribute="first_tag.name", dump_only=True)
    numbers = ma.fields.List(ma.fields.Integer())

    def describe(self, item):
        return f"item {item.id}"


@dataclass
class TagRow:
    name: str


@dataclass
class ItemRow:
    id: int
    title: str | None
    count: object
    flag: object
    when: datetime | None
    tags: list
    first_tag: TagRow | None
    meta: dict
    numbers: list = field(default_factory=list)


ROWS = [
    ItemRow(
        1,
        "hello",
        3,
        True,
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        [TagRow("a"), TagRow("b")],
        TagRow("x"),
        {"k": 1},
    ),
    ItemRow(2, None, 2.0, 0, None, [], None, {}, [1, 2]),  # None, a float for an Integer, a falsy int for a Boolean
    ItemRow(3, "naïve", True, "yes", datetime(2026, 1, 2, 3, 4, 5), [TagRow("c")], TagRow("y"), {"n": None}, [3]),
]


def marshmallows_dump(schema, obj, many=False):
    return ma.Schema._serialize(schema, obj, many=many)


@pytest.mark.parametrize("row", ROWS, ids=["full", "nones", "coerced"])
def test_one_object_dumps_as_marshmallow_does(row, monkeypatch):
    monkeypatch.setattr(dumping, "VERIFY", False)  # compare by hand here
    schema = Item()
    assert schema.dump(row) == marshmallows_dump(schema, row)
    assert "absent" not in schema.dump(row)
    assert schema.dump(row)["heading"] == row.title


def test_many_dicts_and_only(monkeypatch):
    monkeypatch.setattr(dumping, "VERIFY", False)
    schema = Item(only=("id", "title", "tags"))
    assert schema.dump(ROWS, many=True) == marshmallows_dump(schema, ROWS, many=True)
    envelope = OutputSchema.from_dict({"data": ma.fields.Nested(Item, many=True), "meta": ma.fields.Dict()})()
    answer = {"data": ROWS, "meta": {"total": 3}}
    assert envelope.dump(answer) == marshmallows_dump(envelope, answer)
    assert envelope.dump({"meta": {}}) == {"meta": {}}  # a key the dict lacks is left out, as marshmallow does


def test_verify_catches_a_plan_that_differs(monkeypatch):
    monkeypatch.setattr(dumping, "VERIFY", True)
    schema = Item(only=("id",))
    dumping.plan(schema)  # compiled, then broken on purpose
    monkeypatch.setattr(schema, "_dump_one", lambda obj: {"id": -1})
    with pytest.raises(AssertionError, match="compiled dump"):
        schema.dump(ROWS[0])


def test_named_tuples_dump_as_marshmallow_does(monkeypatch):
    """A list's rows are named tuples (queries.View): read by attribute, nested ones too."""
    monkeypatch.setattr(dumping, "VERIFY", False)
    item_tuple = namedtuple("ItemTuple", list(ItemRow.__dataclass_fields__))
    tag_tuple = namedtuple("TagTuple", "name")
    row = item_tuple(**{**ROWS[0].__dict__, "tags": [tag_tuple("a")], "first_tag": tag_tuple("x")})
    schema = Item()
    assert schema.dump(row) == marshmallows_dump(schema, row)
    assert schema.dump(row)["first_tag"] == {"name": "x"}


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=ZoneInfo("Etc/UTC")),  # what psycopg hands back
        datetime(2026, 1, 2, 8, 34, 5, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 1, 1, 22, 4, 5, tzinfo=ZoneInfo("America/New_York")),
        datetime(2026, 1, 2, 3, 4, 5, 999999),  # naive, from SQLite: stored as UTC
    ],
    ids=["utc", "zoneinfo-utc", "india", "new-york", "naive"],
)
def test_times_are_utc_to_the_second_with_a_z(moment):
    assert UtcDateTime()._serialize(moment, "when", None) == "2026-01-02T03:04:05Z"
