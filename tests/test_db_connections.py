"""Pooled connections are pinged before reuse only after sitting idle (app/db_connections.py)."""

import time

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from config import TestConfig
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
