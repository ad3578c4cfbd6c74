"""Pooled PostgreSQL connections are checked before reuse only when they sat idle.

SQLAlchemy's `pool_pre_ping` costs a round trip on every checkout: every request, and every
transaction a worker commits (a send takes two). A connection handed back a moment ago is alive
unless the database went away in that moment, and then the request would fail anyway. One that
sat idle longer may have been cut (a restart, a failover, an idle timeout on the way), so it is
pinged, and replaced if dead, before anyone uses it.
"""

import time

import sqlalchemy as sa


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
