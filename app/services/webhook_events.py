"""Webhook events: stored once (deduplicated by the provider's own id), then processed, retried, replayed.

verify -> record -> hand off -> answer: the HTTP layer verifies and calls `record_event`, which
commits the raw event before anything else; processing runs in a task (in-process without a
broker), and a failed or stuck event is retried by the beat sweeper or replayed by an operator.
A task takes its tenant's new events one after another (process_events), so a burst of webhooks
costs a few tasks, not one each, and the answer to the provider skips the broker while one waits.
"""

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app import jobs
from app.celery import (
    broker_was_emptied,
    enqueue,
    enqueue_later,
    enqueue_unless_waiting,
    take_turn,
)
from app.extensions import db
from app.models import Tenant, WebhookEvent
from app.models.base import utcnow
from app.models.webhook_event import NEW_EVENT
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
    # Unless a task for the tenant's events is still waiting to start: that one takes this one too.
    if not enqueue_unless_waiting(_events_of(tenant.id), jobs.PROCESS_WEBHOOK, event.id, tenant.id):
        leave_to_sweeper(event.id)
    return event


def _events_of(tenant_id: int) -> str:
    """The key under which a tenant's webhook task waits (app.celery.enqueue_unless_waiting)."""
    return f"webhooks:{tenant_id}"


def process_events(event_id: int | None, tenant_id: int | None = None) -> dict[str, int]:
    """A webhook task's work: the event it was queued for, then, when queued as it was stored (with
    its tenant), every other event the tenant has stored that no worker has taken yet, claimed one
    at a time (SKIP LOCKED: several tasks share a burst). An event waiting for a retry is not new:
    its own task or the sweeper takes it.

    It stops when no new event is left or when its turn is over (a successor is queued); a second
    event means a backlog, and another task is queued to share it. Returns how many events came
    to each outcome.
    """
    if tenant_id is None:  # the sweeper's task: this event only
        return {_process_or_defer(event_id, lambda: process_event(event_id)): 1}
    return take_turn(
        _events_of(tenant_id),
        lambda first: _take(tenant_id, event_id if first else None),
        (jobs.PROCESS_WEBHOOK, None, tenant_id),
    )


def _take(tenant_id: int, event_id: int | None) -> tuple[str, bool] | None:
    """Process `event_id` if no worker has taken it yet (else "skipped": it is done, or its own retry
    will take it), or the tenant's oldest new event; None when there is none to take. The turn
    goes on either way."""
    claimed = _claim_new(tenant_id, event_id)
    if claimed is None:
        return None if event_id is None else ("skipped", False)
    return _process_or_defer(claimed, lambda: process_claimed(claimed)), False


def _process_or_defer(event_id: int, process) -> str:
    """Process an event; one that must wait (a provider's rate limit) gets a task of its own for later."""
    try:
        return process()
    except RetryLater as later:  # handed back unclaimed: its retry (or the sweeper) takes it
        if not enqueue_later(jobs.PROCESS_WEBHOOK, event_id, countdown=later.countdown):
            leave_to_sweeper(event_id)
        return "retrying"


@use_case
def process_event(event_id: int, *, force: bool = False) -> str:
    """Process one stored event, once: its effects and its `processed` mark commit together.

    `force` (replay) also takes a processed or failed event again. Raises RetryLater when the
    event must wait (a provider's rate limit), after handing it back unclaimed.
    """
    if not _claim(event_id, force):
        return "skipped"
    return process_claimed(event_id)


@use_case
def process_claimed(event_id: int) -> str:
    """Process an event this task has claimed (see process_event)."""
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


# What every claim writes: the event is being processed, one attempt more, since `:now`.
_TAKEN = {
    "state": "processing",
    "attempts": WebhookEvent.attempts + 1,
    "claimed_at": sa.bindparam("now", type_=WebhookEvent.claimed_at.type),
}


def _claim(event_id: int, force: bool) -> bool:
    allowed = ("received", "processing", "processed", "failed") if force else ("received",)
    claimed = db.session.execute(
        sa.update(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.state.in_(allowed))
        .values(_TAKEN)
        .execution_options(synchronize_session=False),
        {"now": utcnow()},
    ).rowcount
    commit_step()  # taken before processing starts: a second copy of the task finds nothing to do
    return bool(claimed)


def _claim_of(target) -> sa.Update:
    return (
        sa.update(WebhookEvent)
        .where(WebhookEvent.id == target, WebhookEvent.tenant_id == sa.bindparam("tenant"), sa.text(NEW_EVENT))
        .values(_TAKEN)
        .returning(WebhookEvent.id)
        .execution_options(synchronize_session=False)
    )


# Built once, as the send claims (services/delivery.py): a named new event, or the tenant's oldest.
_CLAIM_NAMED_NEW = _claim_of(sa.bindparam("event_id"))
_CLAIM_OLDEST_NEW = _claim_of(
    sa.select(WebhookEvent.id)
    .where(WebhookEvent.tenant_id == sa.bindparam("tenant"), sa.text(NEW_EVENT))  # as in ix_webhook_events_new
    .order_by(WebhookEvent.id)
    .limit(1)
    .with_for_update(skip_locked=True)  # another task taking it this instant: take the next one
    .scalar_subquery()
)


def _claim_new(tenant_id: int, event_id: int | None) -> int | None:
    """Take `event_id`, or (None) the tenant's oldest event, if no worker has taken it yet; its id or None."""
    params = {"tenant": tenant_id, "now": utcnow()}
    if event_id is None:
        claimed = db.session.scalar(_CLAIM_OLDEST_NEW, params)
    else:
        claimed = db.session.scalar(_CLAIM_NAMED_NEW, {**params, "event_id": event_id})
    commit_step()  # taken before processing starts, as _claim
    return claimed


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
        if not enqueue(jobs.PROCESS_WEBHOOK, event_id):
            leave_to_sweeper(event_id)
    return len(rows)


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
