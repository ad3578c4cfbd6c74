"""Liveness and readiness probes."""

import redis
import sqlalchemy as sa
from flask import Blueprint, current_app

from app.extensions import db

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    """The process is up."""
    return {"status": "ok"}


@health.get("/readyz")
def readyz():
    """The database and Redis answer; 503 otherwise, so a load balancer stops routing here."""
    checks = {"database": _check_database(), "redis": _check_redis()}
    ready = all(state in ("ok", "not configured") for state in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503


def _check_database() -> str:
    try:
        db.session.execute(sa.text("SELECT 1"))
        return "ok"
    except Exception:
        db.session.rollback()
        return "unreachable"


def _check_redis() -> str:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return "not configured"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
        return "ok"
    except redis.RedisError:
        return "unreachable"
