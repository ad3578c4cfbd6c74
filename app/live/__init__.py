"""Live delivery: an event bus, and the calls services make after a commit to announce a change.

Services call `publish(...)` once their commit succeeded (or `publish_after_commit(...)` from inside
a unit of work whose caller commits). A failed publish is logged and swallowed: the change is
stored, and a client that missed the event sees it on its next list or poll.
"""

import logging

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

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
    """Announce a committed change to the tenant's open streams. Never raises."""
    try:
        return get_bus(app).publish(tenant_id, type_, data, durable=durable)
    except Exception:  # noqa: BLE001 - the change is committed; a lost event must not fail the request
        log.warning("live.publish-failed", extra={"tenant_id": tenant_id, "type": type_}, exc_info=True)
        return None


def publish_after_commit(session, tenant_id: int, type_: str, data: dict) -> None:
    """Publish once `session` commits (dropped if it rolls back): for code that does not own the commit."""
    target = session() if callable(session) and not isinstance(session, Session) else session
    target.info.setdefault(_PENDING, []).append((current_app._get_current_object(), tenant_id, type_, data))


@sa.event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    for app, tenant_id, type_, data in pending or ():
        # No app context pushed here: popping one would close the session mid-commit.
        publish(tenant_id, type_, data, app=app)


@sa.event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
