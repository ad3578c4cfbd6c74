"""Reaching the real PostgreSQL and Redis the tests need, and skipping (or failing, on CI) without them."""

import os
from contextlib import contextmanager

import celery._state
import psycopg
import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from config import TestConfig, database_url

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(service: str, error: Exception) -> None:
    """Skip with the reason on a laptop; fail loudly under CI=true, where a skip would hide a broken setup."""
    reason = f"{service} is not reachable ({error.__class__.__name__}: {error})"
    if ON_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def test_database_url() -> str:
    return TestConfig.SQLALCHEMY_DATABASE_URI


def ensure_database(url: str) -> None:
    """Create the database `url` names if it is missing (CI also creates it up front)."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


def postgres_url(suffix: str) -> str:
    """A database beside the test database, named after it: runs with their own TEST_DATABASE_URL share none."""
    url = make_url(test_database_url())
    return database_url(str(url.set(database=f"{url.database}_{suffix}")))


def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        require("Redis", exc)
    return url


@contextmanager
def celery_left_as_it_was():
    """create_app() makes its Celery app the current one; keep the main test app's Celery current."""
    current, default = celery._state.get_current_app(), celery._state.default_app
    try:
        yield
    finally:
        if default is not None:
            default.set_default()
        current.set_current()


def migrated_app(config, *, becomes_current: bool = True) -> Flask:
    """An app on its own PostgreSQL database, migrated from empty to head (skips or fails without one).

    `becomes_current=False` for a second app beside the main one, whose Celery app stays current.
    """
    try:
        ensure_database(config.SQLALCHEMY_DATABASE_URI)
    except Exception as exc:  # psycopg.OperationalError and friends
        require("PostgreSQL", exc)
    if becomes_current:
        app = create_app(config)
    else:
        with celery_left_as_it_was():
            app = create_app(config)
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        db.engine.dispose()
    return app


def truncate_everything() -> None:
    """Empty every table (for the databases whose commits are real)."""
    tables = ", ".join(table.name for table in db.metadata.sorted_tables)
    with db.engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


class CommittedConfig(TestConfig):
    """A database beside the test database whose commits are real: for racing threads and real
    worker processes, which cannot see the `db` fixture's rolled-back transaction."""

    SQLALCHEMY_DATABASE_URI = postgres_url("committed")
