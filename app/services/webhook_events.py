"""Webhook events: stored once (deduplicated by the provider's own id), then processed, retried, replayed.

verify -> record -> hand off -> answer: the HTTP layer verifies and calls `record_event`, which
commits the raw event before anything else; processing runs in a task (in-process without a
broker), and a failed or stuck event is retried by the beat sweeper or replayed by an operator.
"""

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app import jobs
from app.celery import broker_was_emptied, enqueue
from app.extensions import db
from app.models import Tenant, WebhookEvent
from app.models.base import utcnow
from app.services.retries import RetryLater
from app.services.unit_of_work import commit_step, use_case

log = logging.getLogger(__name__)


@use_case(keep_loaded=True)  # the hand-off below needs only the new id: no reload after the commit
def record_event(
    tenant: Tenant, *, provider: str, event_key: str, event_type: str, payload: dict
) -> WebhookEvent | None:
    """Store the raw event and enqueue its processing. Returns None for a redelivery (already stored)."""
    event = WebhookEvent(
        tenant_id=tenant.id,
        provider=provider,
        event_key=event_key[:200],
        event_type=event_type,
        payload=payload,
        enqueued_at=utcnow(),  # optimistic, like sends: cleared below if the hand-off fails
    )
    db.session.add(event)
    try:
        commit_step()  # stored before we answer: the provider may never send it again
    except IntegrityError:
        log.info("webhook.duplicate", extra={"tenant_id": tenant.id, "provider": provider, "event_type": event_type})
        return None
    _hand_to_worker(event.id)
    return event


@use_case
def process_event(event_id: int, *, force: bool = False) -> str:
    """Process one stored event, once: its effects and its `processed` mark commit together.

    `force` (replay) also takes a processed or failed event again. Raises RetryLater when the
    event must wait (a provider's rate limit), after handing it back unclaimed.
    """
    if not _claim(event_id, force):
        return "skipped"
    event = db.session.get(WebhookEvent, event_id)
    tenant = db.session.get(Tenant, event.tenant_id)
    try:
        _handler(event.provider)(tenant, event.event_type, event.payload)
    except RetryLater:
        db.session.rollback()
        _settle(event_id, "received", attempts=WebhookEvent.attempts - 1, enqueued_at=utcnow())
        raise
    except Exception as exc:
        db.session.rollback()
        _settle(event_id, "failed", last_error=f"{exc.__class__.__name__}: {exc}"[:2000])
        log.exception("webhook.processing-failed", extra={"tenant_id": tenant.id, "event_id": event_id})
        return "failed"
    _settle(event_id, "processed", processed_at=utcnow(), last_error=None)
    return "processed"


def _claim(event_id: int, force: bool) -> bool:
    allowed = ("received", "processing", "processed", "failed") if force else ("received",)
    claimed = db.session.execute(
        sa.update(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.state.in_(allowed))
        .values(state="processing", attempts=WebhookEvent.attempts + 1, claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    commit_step()  # taken before processing starts: a second copy of the task finds nothing to do
    return bool(claimed)


def _settle(event_id: int, state: str, **values) -> None:
    db.session.execute(
        sa.update(WebhookEvent)
        .where(WebhookEvent.id == event_id)
        .values(state=state, **values)
        .execution_options(synchronize_session=False)
    )
    commit_step()


def leave_to_sweeper(event_id: int) -> None:
    """The event's retry will not be queued by its task (no broker): the retry sweeper takes it when due."""
    _settle(event_id, "received", enqueued_at=None)


@use_case
def retry_unprocessed() -> int:
    """Re-enqueue events whose processing was lost (enqueue failed, queued long ago and never taken,
    or queued in a Redis that restarted empty), stuck (a worker died holding it), or failed with
    attempts left (a minute after)."""
    config = current_app.config
    now = utcnow()
    retry_failed_before = now - timedelta(seconds=config["WEBHOOK_RETRY_AFTER_SECONDS"])
    presumed_lost_before = now - timedelta(seconds=config["WEBHOOK_REQUEUE_AFTER_SECONDS"])
    queued_and_lost = (
        WebhookEvent.enqueued_at.is_not(None)
        if broker_was_emptied("webhooks")
        else WebhookEvent.enqueued_at < presumed_lost_before
    )
    due = sa.or_(
        sa.and_(
            WebhookEvent.state == "received",
            sa.or_(
                sa.and_(WebhookEvent.enqueued_at.is_(None), WebhookEvent.received_at < retry_failed_before),
                queued_and_lost,
            ),
        ),
        sa.and_(WebhookEvent.state == "processing", WebhookEvent.claimed_at < presumed_lost_before),
        sa.and_(WebhookEvent.state == "failed", WebhookEvent.claimed_at < retry_failed_before),
    )
    retryable = sa.and_(due, WebhookEvent.attempts < config["WEBHOOK_MAX_ATTEMPTS"])
    candidates = sa.select(WebhookEvent.id).where(retryable).order_by(WebhookEvent.id).limit(500)
    # Back to "received" so exactly one retry claims each. The UPDATE checks the condition again:
    # an event a worker claimed since the SELECT is no longer due and is left alone.
    rows = db.session.scalars(
        sa.update(WebhookEvent)
        .where(WebhookEvent.id.in_(candidates.scalar_subquery()), retryable)
        .values(state="received", enqueued_at=now)
        .returning(WebhookEvent.id)
        .execution_options(synchronize_session=False)
    ).all()
    commit_step()  # marked queued before the hand-offs, which clear the mark when they fail
    for event_id in rows:
        _hand_to_worker(event_id)
    return len(rows)


def _hand_to_worker(event_id: int) -> None:
    if not enqueue(jobs.PROCESS_WEBHOOK, event_id):
        leave_to_sweeper(event_id)


def events_to_replay(*, event_ids: list[int] | None = None, failed: bool = False) -> list[int]:
    query = sa.select(WebhookEvent.id).order_by(WebhookEvent.id)
    if event_ids:
        query = query.where(WebhookEvent.id.in_(event_ids))
    elif failed:
        query = query.where(WebhookEvent.state == "failed")
    else:
        return []
    return list(db.session.scalars(query))


def _handler(provider: str):
    if provider == "twilio":
        from app.services.twilio_events import handle_twilio_event

        return handle_twilio_event
    if provider == "ghl":
        from app.services.ghl_events import handle_ghl_event

        return handle_ghl_event
    raise ValueError(f"no handler for {provider!r}")
