"""Small query helpers every service shares."""

from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.errors import NotFound
from app.extensions import db


def on_postgresql() -> bool:
    """Whether the session's database is PostgreSQL (production); else SQLite (development)."""
    return db.session.get_bind().dialect.name == "postgresql"


def get_owned(model, tenant_id: int, object_id: int, *, what: str, for_update: bool = False):
    """Load a row by id *and* tenant. Another tenant's id is indistinguishable from a missing one."""
    query = sa.select(model).where(model.id == object_id, model.tenant_id == tenant_id)
    if for_update:
        query = query.with_for_update(of=model)
    row = db.session.scalar(query)
    if row is None:
        raise NotFound(f"{what} not found.", code=f"{what.lower()}_not_found")
    return row


def insert_unless_taken(model, **values):
    """Insert a row and return it as a loaded object; None when a unique index already holds such a
    row (another request created it between our lookup and this insert). One statement: no
    savepoint to roll back to, as `INSERT ... ON CONFLICT DO NOTHING RETURNING` cannot fail there."""
    return db.session.scalars(_insert_unless_taken(model, on_postgresql()), [values]).one_or_none()


@cache
def _insert_unless_taken(model, postgres: bool):
    """Built once per model: the values come with each execution (building it anew cost more CPU than running it)."""
    dialect = postgresql if postgres else sqlite
    return dialect.insert(model).on_conflict_do_nothing().returning(model)


def insert_values(new_object, *, prefix: str) -> dict:
    """What a flush would INSERT for the transient `new_object`: the attributes it was given, else
    its columns' Python-side defaults; keyed `<prefix>_<column>`, as `insert_linked` binds them."""
    given = sa.inspect(new_object).dict
    values = {}
    for attribute in sa.inspect(type(new_object)).column_attrs:
        column = attribute.columns[0]
        if column.primary_key or column.computed is not None:
            continue
        if attribute.key in given:
            value = given[attribute.key]
        elif column.default is not None:
            value = column.default.arg(None) if column.default.is_callable else column.default.arg
        else:
            value = None
        values[f"{prefix}_{column.name}"] = value
    return values


def insert_linked(model, prefix: str, **linked) -> sa.CTE:
    """A PostgreSQL `INSERT ... ON CONFLICT DO NOTHING RETURNING` of one `model` row, as a CTE named
    `new_<prefix>`: its columns bound as `insert_values` keys them, except `linked` ones, taken from
    an earlier CTE's row (so a chain of them stores a row and the rows pointing to it in one statement)."""
    table = model.__table__
    bound = [
        column.name
        for column in table.c
        if not column.primary_key and column.computed is None and column.name not in linked
    ]
    source = sa.select(
        *(sa.bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in bound), *linked.values()
    )
    return (
        postgresql.insert(table)
        .from_select([*bound, *linked], source)
        .on_conflict_do_nothing()
        .returning(*table.c)
        .cte(f"new_{prefix}")
    )


def contains(column, text: str, *, case_sensitive: bool = False):
    """`column` contains `text`, with the user's % and _ taken literally (on PostgreSQL and SQLite)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return column.like(pattern, escape="\\") if case_sensitive else column.ilike(pattern, escape="\\")


def in_subquery(column, subquery):
    """`column IN (subquery)`, written on PostgreSQL as `= ANY(ARRAY(subquery))`.

    The planner cannot guess how many rows a trigram match returns and, guessing thousands, reads
    the whole table to join them; an array is looked up in `column`'s index, one probe per row.
    """
    if not on_postgresql():
        return column.in_(subquery)
    return column == sa.any_(sa.func.array(subquery.scalar_subquery()))


# How far past a page a list's `total` counts. A list's cost must not grow with the tenant: beyond
# this, `total` is a lower bound (offset + limit + COUNT_AHEAD), still past the page, so a client
# paging by offset keeps going, and one using the cursor never needs it.
COUNT_AHEAD = 1000


@dataclass(frozen=True)
class Page:
    rows: list
    total: int
    next_before: str | None = None


class View:
    """What a list shows of each row, read as plain columns into a named tuple of `fields`.

    A page of ORM objects spent about a fifth of a 50-conversation list's CPU building them (an
    instance state, an identity-map entry and a loader per attribute, for rows only dumped); a
    named tuple reads its values as the database sent them, through the columns' own types. A
    field is a column (any SQL expression), or a View of a row the list outer-joins: that View's
    first field is the joined row's primary key, and a row the join did not find reads as None.
    `from_`: the table, or the join, the columns are read from (only for the View a list reads).
    """

    def __init__(self, name: str, /, *, from_=None, **fields):
        self.kind = namedtuple(name, fields)
        self.from_ = from_
        self.columns: list = []
        self._runs: list[tuple[int, int, View | None]] = []  # consecutive columns are one slice
        for field in fields.values():
            start = len(self.columns)
            if isinstance(field, View):
                self.columns += field.columns
                self._runs.append((start, len(self.columns), field))
            elif self._runs and self._runs[-1][2] is None:
                self.columns.append(field)
                self._runs[-1] = (self._runs[-1][0], start + 1, None)
            else:
                self.columns.append(field)
                self._runs.append((start, start + 1, None))

    def read(self, values) -> tuple:
        """The named tuple of a result row (or a slice of one) holding this View's columns first."""
        parts = []
        for start, end, joined in self._runs:
            if joined is None:
                parts.extend(values[start:end])
            else:
                part = values[start:end]
                parts.append(None if part[0] is None else joined.read(part))
        return self.kind._make(parts)


def columns(table: sa.Table, *names: str) -> dict:
    """{name: the table's column of that name}: a View's fields that are columns under their own names."""
    return {name: table.c[name] for name in names}


def page(
    ids,
    *,
    view: View,
    order_by: tuple,
    limit: int,
    offset: int,
    cursor_of: Callable[[object], object] | None = None,
    sorts_every_match: bool = False,
) -> Page:
    """A page of rows in one statement: `ids` (a select of ids) picks the page in `order_by`,
    ideally from an index that orders them, and only those rows are read, as `view` shows them,
    with the total. With `cursor_of`, `next_before` is the cursor of the last row when more follow.
    `sorts_every_match`: no index orders the page (a search), so every match is read and sorted
    anyway: they are counted in the same pass. Otherwise the count stops COUNT_AHEAD past the page.
    """
    counted = sa.func.count().over() if sorts_every_match else _bounded_count(ids, limit=limit, offset=offset)
    picked = (
        ids.add_columns(sa.func.row_number().over(order_by=order_by).label("position"), counted.label("total"))
        .order_by(*order_by)
        .limit(limit + 1)
        .offset(offset)
        .subquery("picked")
    )
    found = db.session.execute(
        sa.select(*view.columns, picked.c.total)
        .select_from(view.from_)
        .join(picked, view.columns[0] == picked.c.id)
        .order_by(picked.c.position)
    ).all()
    rows = [view.read(row) for row in found[:limit]]
    if found:
        total = found[0].total
    else:  # past the end (a count says where the end is), or nothing at all
        total = db.session.scalar(sa.select(_bounded_count(ids, limit=limit, offset=offset))) if offset else 0
    more = len(found) > limit and cursor_of is not None
    return Page(rows, total, cursor_of(rows[-1]) if more else None)


def _bounded_count(ids, *, limit: int, offset: int):
    """How many `ids` select, counting no further than COUNT_AHEAD past the page."""
    counted = ids.order_by(None).limit(offset + limit + COUNT_AHEAD).subquery()
    return sa.select(sa.func.count()).select_from(counted).scalar_subquery()


def lock_until_commit(key: str | None) -> None:
    """Serialise work on `key` across processes until this transaction ends (PostgreSQL advisory lock).

    For check-then-insert races a unique index alone would turn into errors. No-op on SQLite (one writer).
    """
    if key is None or not on_postgresql():
        return
    db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))
