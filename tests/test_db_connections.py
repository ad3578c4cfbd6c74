"""How the app uses its PostgreSQL connections (app/db_connections.py): pooled ones are pinged before
reuse only after sitting idle; a read request's statements run outside a transaction."""

import contextlib
import time

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.models import Contact
from app.services.unit_of_work import use_case
from config import TestConfig
from tests import factories
from tests.services import celery_left_as_it_was


@pytest.fixture
def engine_pinging_after(app, monkeypatch):
    """`engine_pinging_after(seconds)`: the engine of a new app with that idle limit, and the list of
    pings it sends. (`app`: the test database exists, or the test fails under CI.)"""
    engines = []

    def make(seconds: float):
        class Config(TestConfig):
            DATABASE_PING_AFTER_IDLE_SECONDS = seconds

        with celery_left_as_it_was():
            other = create_app(Config())
        with other.app_context():
            engine = db.engine
        pings = []
        ping = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping", lambda connection: pings.append(1) or ping(connection))
        engines.append(engine)
        return engine, pings

    yield make
    for engine in engines:
        engine.dispose()


def backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.text("SELECT pg_backend_pid()"))


def cut(pid: int) -> None:
    """End a backend from outside, as a database restart or a dropped link would."""
    killer = sa.create_engine(TestConfig.SQLALCHEMY_DATABASE_URI, poolclass=sa.NullPool)
    with killer.connect() as connection:
        assert connection.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()
    time.sleep(0.2)  # the backend is gone and the idle limits below have passed


def test_a_connection_handed_back_a_moment_ago_is_reused_without_a_round_trip(engine_pinging_after):
    engine, pings = engine_pinging_after(60)
    assert len({backend_pid(engine) for _ in range(5)}) == 1  # one pooled connection, five checkouts
    assert pings == []


def test_a_connection_cut_while_idle_is_replaced_before_anyone_uses_it(engine_pinging_after):
    engine, pings = engine_pinging_after(0.1)
    first = backend_pid(engine)
    cut(first)
    assert backend_pid(engine) not in (None, first)  # no error reached the caller
    assert pings == [1]


def test_a_connection_cut_within_the_idle_limit_fails_once_and_the_pool_is_renewed(engine_pinging_after):
    engine, pings = engine_pinging_after(60)
    first = backend_pid(engine)
    cut(first)
    with pytest.raises(sa.exc.OperationalError):
        backend_pid(engine)  # the one failure this trade costs: no ping, so the dead link is found in use
    assert backend_pid(engine) != first
    assert pings == []


@pytest.fixture
def transaction_states(committed):
    """The psycopg transaction state and autocommit mode each statement of the committed app starts in."""
    seen = []

    def note(connection, cursor, statement, parameters, context, executemany):
        dbapi_connection = connection.connection.dbapi_connection
        seen.append((dbapi_connection.info.transaction_status.name, dbapi_connection.autocommit))

    sa.event.listen(db.engine, "before_cursor_execute", note)
    yield seen
    sa.event.remove(db.engine, "before_cursor_execute", note)


def test_a_read_requests_statements_run_outside_a_transaction(committed, transaction_states):
    admin = factories.make_user(tenant=factories.make_tenant(name="Reads"), role="admin", email="r@reads.test")
    api = factories.ApiClient(committed.test_client(), factories.make_token(user=admin))
    db.session.remove()
    assert api.get("/api/v1/conversations").status_code == 200  # the token's first use is written down
    transaction_states.clear()

    assert api.get("/api/v1/conversations").status_code == 200

    # No BEGIN before the token lookup, no ROLLBACK after the page: each statement on its own.
    assert len(transaction_states) >= 2
    assert set(transaction_states) == {("IDLE", True)}


def test_a_use_case_in_a_read_request_is_still_one_transaction(committed, transaction_states):
    tenant_id = factories.make_tenant(name="Reads").id
    db.session.remove()
    transaction_states.clear()

    @use_case
    def add_then_fail():
        db.session.add(Contact(tenant_id=tenant_id, first_name="Half", phone="+14155550190"))
        db.session.flush()  # stored by now if each statement committed itself
        raise RuntimeError("the second half failed")

    with committed.test_request_context("/api/v1/conversations", method="GET"):
        db.session.scalar(sa.select(sa.func.count(Contact.id)))  # the request has read in autocommit
        with pytest.raises(RuntimeError):
            add_then_fail()
        db.session.remove()

    assert db.session.scalar(sa.select(sa.func.count(Contact.id)).where(Contact.first_name == "Half")) == 0
    # The read on its own; the INSERT opened a transaction (then rolled back).
    assert transaction_states[:2] == [("IDLE", True), ("IDLE", False)]


def test_connections_read_requests_used_run_transactions_for_whoever_takes_them_next(committed, transaction_states):
    admin = factories.make_user(tenant=factories.make_tenant(name="Reads"), role="admin", email="r@reads.test")
    api = factories.ApiClient(committed.test_client(), factories.make_token(user=admin))
    for _ in range(3):
        assert api.get("/api/v1/conversations/unread").status_code == 200
    db.session.remove()
    pooled = db.engine.pool.checkedin()
    assert pooled >= 1
    transaction_states.clear()

    with contextlib.ExitStack() as held:  # every pooled connection, as a worker or a POST takes it
        for _ in range(pooled):
            connection = held.enter_context(db.engine.connect())
            connection.execute(sa.text("SELECT 1"))
            connection.execute(sa.text("SELECT 2"))

    assert transaction_states == [("IDLE", False), ("INTRANS", False)] * pooled
