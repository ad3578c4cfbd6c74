"""Live delivery: an event bus, and how services announce a change once it is committed.

Services call `app.live.notify` inside their use case; the event's data is built just before the
commit (after a flush, so new rows have their ids) and published just after it. A use case that
rolls back publishes nothing. Typing, which changes no row, is published at once. A failed
publish is logged and swallowed: the change is stored, and a client that missed the event sees
it on its next list or poll.
"""

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from app.extensions import db
from app.live.bus import BaseBus, Event, InProcessBus, RedisBus

log = logging.getLogger(__name__)

_PENDING = "live_pending_events"


def init_app(app: Flask) -> None:
    config = app.config
    if config.get("REDIS_URL"):
        bus = RedisBus(config["REDIS_URL"], config["LIVE_LOG_SIZE"], config["LIVE_LOG_TTL_SECONDS"])
    else:
        bus = InProcessBus(config["LIVE_LOG_SIZE"])
    app.extensions["live_bus"] = bus


def get_bus(app: Flask | None = None) -> BaseBus:
    return (app or current_app).extensions["live_bus"]


def publish(tenant_id: int, type_: str, data: dict, *, durable: bool = True, app: Flask | None = None) -> Event | None:
    """Announce a change to the tenant's open streams now. Never raises, and never waits on a Redis
    that failed moments ago (a frozen one would cost every request its socket timeout)."""
    published = publish_all([(tenant_id, type_, data, durable)], app=app)
    return published[0] if published else None


def publish_all(announcements: list[tuple[int, str, dict, bool]], *, app: Flask | None = None) -> list[Event]:
    """`publish` for several changes (tenant_id, type, data, durable), in order, in one round trip."""
    from app.celery import redis_call, redis_recently_failed

    bus = get_bus(app)
    if bus.uses_redis and redis_recently_failed():
        return []  # the changes are stored: a client sees them on its next list, or the widget's polling
    try:
        with redis_call() if bus.uses_redis else contextlib.nullcontext():
            return bus.publish_many(announcements)
    except Exception as exc:  # noqa: BLE001 - the change is committed; a lost event must not fail the request
        tenant_id, type_, _, _ = announcements[0]
        log.warning("live.publish-failed", extra={"tenant_id": tenant_id, "type": type_, "error": type(exc).__name__})
        return []


@dataclass
class _Pending:
    app: Flask
    tenant_id: int
    type: str
    build: Callable[[], dict | None]
    durable: bool = True
    data: dict | None = None


def publish_on_commit(tenant_id: int, type_: str, build: Callable[[], dict | None], *, durable: bool = True) -> None:
    """Publish when the current session commits; `build()` makes the data just before the commit."""
    pending = _Pending(current_app._get_current_object(), tenant_id, type_, build, durable)
    db.session().info.setdefault(_PENDING, []).append(pending)


@sa.event.listens_for(Session, "before_commit")
def _build_pending(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    session.flush()  # new rows get their ids; a constraint failure surfaces here, as the commit's own
    for item in pending:
        if item.data is None:
            item.data = item.build()


@sa.event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    ready = [item for item in session.info.pop(_PENDING, None) or () if item.data is not None]
    if ready:  # a worker's batch of status checks commits many: one round trip for them all
        # No app context pushed here: popping one would remove the session mid-commit.
        publish_all([(item.tenant_id, item.type, item.data, item.durable) for item in ready], app=ready[0].app)


@sa.event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
