"""The SQL one request issues, captured in-process, then replayed straight through psycopg.

`capture(app, call)` runs `call()` (a test-client request, or a service call) with a SQLAlchemy
`before_cursor_execute` listener on the app's engine recording each statement and its bound
parameters exactly as the driver receives them; no hook in the production code. `replay` runs that
set on one psycopg connection in a transaction (rolled back, so writes can be replayed too) and
times the whole set; `explain` gives `EXPLAIN (ANALYZE, BUFFERS)` of each SELECT.
"""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa


@dataclass
class Statement:
    sql: str
    params: object  # dict, tuple, or a list of them (executemany)
    many: bool = False

    @property
    def is_select(self) -> bool:
        return self.sql.lstrip().upper().startswith(("SELECT", "WITH")) and " FOR UPDATE" not in self.sql.upper()


@contextmanager
def recording(engine: sa.Engine):
    statements: list[Statement] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(Statement(statement, parameters, executemany))

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)


def capture(app, call) -> tuple[object, list[Statement]]:
    """(what `call()` returned, the statements it issued on the app's engine)."""
    from app.extensions import db

    with app.app_context():
        engine = db.engine
    with recording(engine) as statements:
        answer = call()
    return answer, statements


def _execute(cursor: psycopg.Cursor, statement: Statement) -> None:
    if statement.many:
        cursor.executemany(statement.sql, statement.params)
    else:
        cursor.execute(statement.sql, statement.params or None)
    if cursor.description is not None:
        cursor.fetchall()


def replay(url: str, statements: list[Statement], *, runs: int, read_request: bool, warmup: int = 10) -> float:
    """p50 in ms of the whole set on one connection, as the app runs it: a read request's statements
    each on its own (autocommit, app/db_connections.py), a write's in one transaction, rolled back here."""
    timings = []
    with psycopg.connect(url, autocommit=read_request) as conn:
        for run in range(warmup + runs):
            started = time.perf_counter()
            with conn.cursor() as cursor:
                for statement in statements:
                    _execute(cursor, statement)
            conn.rollback()
            if run >= warmup:
                timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def explain(url: str, statements: list[Statement]) -> list[tuple[str, str]]:
    """(statement, EXPLAIN (ANALYZE, BUFFERS) text) for each SELECT, in a rolled-back transaction."""
    plans = []
    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            for statement in statements:
                if statement.is_select and not statement.many:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, statement.params or None)
                    plans.append((render(statement), "\n".join(row[0] for row in cursor.fetchall())))
                else:
                    _execute(cursor, statement)
        conn.rollback()
    return plans


def render(statement: Statement) -> str:
    """The statement with its parameters, for the report (values truncated; no secrets are bound here)."""
    text = " ".join(statement.sql.split())
    if isinstance(statement.params, dict) and statement.params:
        shown = {k: (v if len(repr(v)) < 60 else repr(v)[:57] + "...") for k, v in statement.params.items()}
        text += f"  -- {shown}"
    return text
