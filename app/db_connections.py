"""How the app uses its PostgreSQL connections: pooled ones are checked before reuse only when they
sat idle, a read request's statements run outside a transaction, and every statement's conversion
for the server is cached.

SQLAlchemy's `pool_pre_ping` costs a round trip on every checkout: every request, and every
transaction a worker commits (a send takes two). A connection handed back a moment ago is alive
unless the database went away in that moment, and then the request would fail anyway. One that
sat idle longer may have been cut (a restart, a failover, an idle timeout on the way), so it is
pinged, and replaced if dead, before anyone uses it.
"""

import logging
import time
from collections.abc import Callable

import sqlalchemy as sa
from flask import has_request_context, request

log = logging.getLogger(__name__)

# psycopg rewrites a statement's %(name)s placeholders for the server with a regular expression,
# caching the result only for statements under 4,096 characters and 50 parameters (a guard against
# ORMs' ever-different multi-row INSERTs, which we do not issue). A send to a new number (contact,
# conversation and message in one statement) is twice that: uncached, its conversion cost a tenth of
# the send's CPU. Our statements are compiled once by SQLAlchemy and few; 128 of them are kept.
STATEMENT_CACHE_LIMITS = {"MAX_CACHED_STATEMENT_LENGTH": 16_384, "MAX_CACHED_STATEMENT_PARAMS": 128}


def ping_when_idle(engine: sa.Engine, after_seconds: float) -> None:
    """Ping a pooled connection at checkout when it was last handed back `after_seconds` or more ago."""
    dialect = engine.dialect

    @sa.event.listens_for(engine, "checkin")
    def note_idle_since(dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, record, proxy):
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < after_seconds:
            return  # just connected, or handed back a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise sa.exc.DisconnectionError() from exc  # the pool replaces it and checks out again
            raise


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _in_read_request() -> bool:
    return has_request_context() and request.method in READ_METHODS


def reads_outside_transactions(engine: sa.Engine, *, in_use_case: Callable[[], bool]) -> None:
    """A read request's statements run in autocommit, outside any use case.

    In a transaction psycopg sends BEGIN before the first statement and the session sends ROLLBACK
    when the request ends: two round trips of four for the unread badges. At READ COMMITTED every
    statement reads its own snapshot inside a transaction too, so a read loses nothing by it. A use
    case (what writes, even in a GET: a token's last use) still runs in one transaction: see
    `transaction_from_here`. The mode is set at every checkout from the pool (a session takes a
    connection for each transaction), so one never carries a GET's autocommit to a worker or a POST.
    (A pool event: a listener on the connection's `begin` would have SQLAlchemy dispatch connection
    events around every statement.)
    """

    @sa.event.listens_for(engine, "checkout")
    def autocommit_when_reading(dbapi_connection, record, proxy):
        reading = _in_read_request() and not in_use_case()
        if dbapi_connection.autocommit != reading:
            dbapi_connection.autocommit = reading


def transaction_from_here(session) -> None:
    """A use case starts: what the session runs from here is one transaction, even in a read request.

    A session that has not connected yet starts its transaction in the use case (see above); one
    that has read in autocommit is switched back (psycopg allows it: no transaction is open).
    """
    if not (_in_read_request() and session.in_transaction()):
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql" and connection.connection.dbapi_connection.autocommit:
        connection.connection.dbapi_connection.autocommit = False


def cache_long_statements() -> None:
    """Let psycopg cache the conversion of our longest statements too (STATEMENT_CACHE_LIMITS)."""
    from psycopg import _queries

    for name, limit in STATEMENT_CACHE_LIMITS.items():
        if not hasattr(_queries, name):  # a psycopg that changed how it caches: slower, still correct
            log.warning("db.statement-cache-limit-unknown", extra={"limit": name})
            continue
        setattr(_queries, name, max(getattr(_queries, name), limit))
