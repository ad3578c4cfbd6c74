"""Small query helpers every service shares."""

import sqlalchemy as sa

from app.errors import NotFound
from app.extensions import db


def get_owned(model, tenant_id: int, object_id: int, *, what: str, for_update: bool = False):
    """Load a row by id *and* tenant. Another tenant's id is indistinguishable from a missing one."""
    query = sa.select(model).where(model.id == object_id, model.tenant_id == tenant_id)
    if for_update:
        query = query.with_for_update(of=model)
    row = db.session.scalar(query)
    if row is None:
        raise NotFound(f"{what} not found.", code=f"{what.lower()}_not_found")
    return row


def contains(column, text: str, *, case_sensitive: bool = False):
    """`column` contains `text`, with the user's % and _ taken literally (on PostgreSQL and SQLite)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return column.like(pattern, escape="\\") if case_sensitive else column.ilike(pattern, escape="\\")


def page(query, *, limit: int, offset: int):
    """(rows, total) for a select, in two statements whatever the page size."""
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.limit(limit).offset(offset)).unique().all()
    return rows, total


def lock_until_commit(key: str | None) -> None:
    """Serialise work on `key` across processes until this transaction ends (PostgreSQL advisory lock).

    For check-then-insert races a unique index alone would turn into errors. No-op on SQLite (one writer).
    """
    if key is None or db.session.get_bind().dialect.name != "postgresql":
        return
    db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))
