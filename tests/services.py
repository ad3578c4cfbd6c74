"""Reaching the real PostgreSQL and Redis the tests need, and skipping (or failing, on CI) without them."""

import os

import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

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


def postgres_url(database: str) -> str:
    return database_url(str(make_url(test_database_url()).set(database=database)))


def redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        require("Redis", exc)
    return url
