"""Delivery: a worker claims a pending message, hands it to the tenant's provider, records the outcome.

Every message is stored `pending` before it gets here, so nothing is lost if a worker or Redis
dies; the claim makes sure no two workers send the same message. A send task takes its tenant's
due messages one after another (send_due_messages), so a burst costs a few tasks, not one each.
The steps commit one by one: the claim must be durable before the provider is called, and no
transaction is held while it answers.

When we cannot know whether the provider took a message (no answer before the timeout, or the
worker died after claiming it), it is never simply sent again: it stays `pending` and claimed
while the provider's own report (its status callback names our message) or our question to the
provider (`reconcile_send`) settles it; only a provider with no trace of it gets it again.
"""

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import OperationalError

from app import jobs
from app.celery import (
    broker_was_emptied,
    enqueue,
    enqueue_later,
    enqueue_unless_waiting,
    take_turn,
)
from app.extensions import db
from app.models import Contact, Conversation, IdempotencyKey, Message, Tenant, idempotency_key
from app.models.base import aware, utcnow
from app.models.conversation import OPT_OUT_CHANNELS
from app.models.message import DUE_TO_SEND
from app.providers.base import FAILED, PENDING, SENT, MessagingProvider, OutboundMessage, ProviderError, Recipient
from app.services.contacts import link_provider_contact, set_opt_out
from app.services.delivery_status import apply_status_update
from app.services.handoff import hand_off
from app.services.provider_registry import ProviderNotConfigured, provider_for
from app.services.queries import on_postgresql
from app.services.rate_limits import wait_for_slot
from app.services.retries import RetryLater, backoff_seconds
from app.services.unit_of_work import commit_step, use_case

log = logging.getLogger(__name__)

CLAIM_EARLY_TOLERANCE = timedelta(seconds=1)
# How much earlier than our claim a provider's clock may date the message it took.
CLOCK_SKEW = timedelta(minutes=2)


def hand_to_worker(tenant_id: int, message_id: int) -> bool:
    """Enqueue the send of a committed, pending message, unless a send task for its tenant is still
    waiting to start (that one takes it: send_due_messages). Its enqueued_at was set optimistically
    with the row; a failed hand-off clears it so the sweeper picks the message up soon."""
    if enqueue_unless_waiting(_sends_of(tenant_id), jobs.SEND_MESSAGE, tenant_id, message_id):
        return True
    try:
        leave_to_sweeper(tenant_id, message_id)
    except OperationalError:
        # The database went away too (the message itself is committed): its queued mark stays, and the
        # sweeper re-enqueues it once that is SWEEP_REQUEUE_AFTER_SECONDS old. Closing, not rolling
        # back, keeps what the caller loaded (the API's answer) readable without the database.
        db.session.close()
        log.warning("message.hand-off-unrecorded", extra={"tenant_id": tenant_id, "message_id": message_id})
    return False


@use_case
def leave_to_sweeper(tenant_id: int, message_id: int) -> None:
    """The retry will not be queued by its task: let the sweeper enqueue it once it is due."""
    db.session.execute(
        sa.update(Message)
        .where(Message.id == message_id, Message.tenant_id == tenant_id, Message.delivery_status == PENDING)
        .values(enqueued_at=None)
        # The send's message may be in this session still loaded (the send keeps it): say it there too.
        .execution_options(synchronize_session="evaluate")
    )


def _sends_of(tenant_id: int) -> str:
    """The key under which a tenant's send task waits (app.celery.enqueue_unless_waiting)."""
    return f"sends:{tenant_id}"


class Claimed(NamedTuple):
    """A claimed message (its claim's values, attempt counted) with its conversation, the
    conversation's contact, and its tenant."""

    message: Message
    conversation: Conversation
    tenant: Tenant


@dataclass(frozen=True)
class Attempt:
    """What became of one message a send task took."""

    message_id: int
    outcome: str  # sent, failed, skipped, unconfirmed, a call's outcome; or "retrying"
    retry: RetryLater | None = None


def send_due_messages(tenant_id: int, message_id: int | None = None) -> dict[str, int]:
    """A send task's work: the message it was queued for, then every other message its tenant has
    due, claimed one at a time (SKIP LOCKED: several tasks share a burst). A burst of sends costs a
    few tasks instead of one per message, and each message keeps its own claim, committed before
    the provider is called, and its own rate-limit slot.

    It stops when nothing is due, when the provider's rate limit has no room (the retry queued for
    that message carries on), or when its turn is over (a successor is queued): one tenant's burst
    cannot hold a worker other tenants need. A second message due means a backlog: another task is
    queued to share it. Returns how many messages came to each outcome.
    """
    checks = _status_checks.set([])
    try:
        return take_turn(
            _sends_of(tenant_id),
            lambda first: _take(tenant_id, message_id if first else None),
            (jobs.SEND_MESSAGE, tenant_id, None),
        )
    finally:
        _queue_status_checks(tenant_id, _status_checks.get())
        _status_checks.reset(checks)


def _take(tenant_id: int, message_id: int | None) -> tuple[str, bool] | None:
    """One send of the task's turn: its outcome, and whether the turn ends (the provider's rate
    limit has no room; the retry queued for the message carries on); None when nothing is due."""
    attempt = _attempt(tenant_id, message_id)
    if attempt is None:
        return None
    if attempt.retry is None:
        return attempt.outcome, False
    _retry_later(tenant_id, attempt.message_id, attempt.retry.countdown)
    return attempt.outcome, attempt.retry.rate_limited


# The status checks asked for by the messages of the send task running now: one task for them all.
_status_checks: ContextVar[list[tuple[int, float]] | None] = ContextVar("status_checks", default=None)


def _check_status_later(tenant_id: int, message_id: int, after: float) -> None:
    batch = _status_checks.get()
    if batch is None:
        enqueue(jobs.CHECK_STATUS, tenant_id, message_id, countdown=after)
    else:
        batch.append((message_id, after))


def _queue_status_checks(tenant_id: int, batch: list[tuple[int, float]]) -> None:
    if batch:  # if this is lost, the poller asks after STATUS_POLL_AFTER_SECONDS
        enqueue(
            jobs.CHECK_STATUSES, tenant_id, [message_id for message_id, _ in batch], countdown=max(a for _, a in batch)
        )


def _attempt(tenant_id: int, message_id: int | None) -> Attempt | None:
    """Send `message_id`, or the tenant's next due message; None when there is nothing to take."""
    if message_id is None:
        return send_next_due(tenant_id)
    return _attempted(message_id, lambda: send_pending_message(tenant_id, message_id))


def _attempted(message_id: int, send: Callable[[], str]) -> Attempt:
    try:
        return Attempt(message_id, send())
    except RetryLater as later:  # released, not failed: a retry takes it again
        return Attempt(message_id, "retrying", later)


def _retry_later(tenant_id: int, message_id: int, countdown: float) -> None:
    """Queue a task for this one message once it is due again; the sweeper, if that cannot be queued."""
    if not enqueue_later(jobs.SEND_MESSAGE, tenant_id, message_id, countdown=countdown):
        leave_to_sweeper(tenant_id, message_id)


@use_case
def send_pending_message(tenant_id: int, message_id: int) -> str:
    """Send one pending message. Returns "sent", "failed" or "skipped"; raises RetryLater."""
    claimed = _claim(tenant_id, message_id)
    if claimed is None:
        return "skipped"  # sent, failed, or in another worker's hands: a redelivered task is harmless
    return _send_claimed(tenant_id, message_id, claimed)


@use_case
def send_next_due(tenant_id: int) -> Attempt | None:
    """Claim and send the tenant's oldest due message; None when none is due."""
    claimed = _claim_next(tenant_id)
    if claimed is None:
        return None
    message_id = claimed.message.id
    return _attempted(message_id, lambda: _send_claimed(tenant_id, message_id, claimed))


def _send_claimed(tenant_id: int, message_id: int, claimed: Claimed) -> str:
    message, conversation, tenant = claimed
    attempt = message.send_attempts  # counting this one
    contact = conversation.contact
    if message.channel == "voice":  # a click-to-call: placed, not sent (issue 13)
        from app.services.calls import place_claimed_call  # calls -> messages -> delivery: import here

        commit_step()  # the claim is durable before anyone calls the provider
        return place_claimed_call(message, conversation, contact)
    if contact is not None and contact.sms_opted_out and message.channel in OPT_OUT_CHANNELS:
        # Their STOP arrived while the message waited for a worker or a retry: honour it.
        return _fail(message, ProviderError("The contact has opted out (STOP).", code="opted_out"), contact)
    try:
        provider = provider_for(tenant)
    except ProviderNotConfigured as exc:  # the message names no secret
        return _fail(message, ProviderError(str(exc), code="provider_not_configured"), contact)
    outbound = _ready_to_send(provider, message, conversation, contact)
    try:
        receipt = provider.send(outbound)
    except ProviderError as error:
        if error.outcome_unknown:
            return _await_confirmation(message, error)
        return _handle_error(message, error, attempt, contact)
    except Exception as exc:  # an adapter bug must not strand the message: retry, then fail
        log.exception("message.send-crashed", extra={"tenant_id": tenant_id, "message_id": message_id})
        error = ProviderError(exc.__class__.__name__, code="internal", transient=True)
        return _handle_error(message, error, attempt, contact)
    _record_receipt(tenant_id, message_id, conversation, contact, receipt)
    log.info("message.sent", extra={"tenant_id": tenant_id, "message_id": message_id, "provider": provider.name})
    if receipt.check_status_after is not None:
        _check_status_later(tenant_id, message_id, receipt.check_status_after)
    return "sent"


def _ready_to_send(provider: MessagingProvider, message: Message, conversation: Conversation, contact):
    """The request for the provider, once the provider's rate limit has room; commits the claim
    with it, so the claim is durable and no transaction is held while the provider answers."""
    try:
        wait = wait_for_slot(provider.rate_budget)
        outbound = _outbound(message, conversation, contact)
    except Exception:
        # Nothing reached the provider (e.g. Redis, the rate limiter's store, went down mid-task):
        # the rollback takes the claim back, and the sweeper re-enqueues the message, rather than
        # leaving it claimed until it is reconciled.
        tenant_id, message_id = message.tenant_id, message.id
        db.session.rollback()
        leave_to_sweeper(tenant_id, message_id)
        commit_step()
        raise
    if wait:
        _release(message, wait, counts_as_attempt=False)
        raise RetryLater(wait, rate_limited=True)
    commit_step()  # the claim is durable before anyone calls the provider
    return outbound


def _record_receipt(tenant_id: int, message_id: int, conversation: Conversation, contact, receipt) -> None:
    """The provider took it: its ids and status, committed before anything else can fail."""
    ids = {"provider_message_id": receipt.ids.message, "error_code": None, "error_message": None}
    if receipt.ids.conversation:  # a provider that keeps its own threads (GHL): the two-way sync's ids
        ids["ghl_message_id"] = receipt.ids.message
        conversation.provider_conversation_id = conversation.provider_conversation_id or receipt.ids.conversation
    if not apply_status_update(tenant_id, message_id, receipt.status or SENT, also=ids):
        # Its own report moved it on already (or it failed meanwhile): the ids all the same.
        db.session.execute(
            sa.update(Message)
            .where(Message.id == message_id, Message.tenant_id == tenant_id)
            .values(**ids)
            .execution_options(synchronize_session=False)
        )
    commit_step()  # the outcome first: nothing after this line can lose it
    link_provider_contact(contact, receipt.ids.contact)
    commit_step()


def _await_confirmation(message: Message, error: ProviderError) -> str:
    """The request may have reached the provider: keep the claim (nobody sends it meanwhile) and
    let the provider's report, or our question to it a little later, settle what happened."""
    message.error_code = error.code
    message.error_message = "No answer from the provider yet; checking before any retry."
    message.enqueued_at = utcnow()  # the reconciliation below is queued; the sweeper re-queues it if lost
    commit_step()
    log.warning("message.send-unconfirmed", extra={"tenant_id": message.tenant_id, "message_id": message.id})
    enqueue(jobs.RECONCILE_SEND, message.tenant_id, message.id, countdown=current_app.config["RECONCILE_AFTER_SECONDS"])
    return "unconfirmed"


@use_case
def reconcile_send(tenant_id: int, message_id: int) -> str:
    """A send whose outcome we do not know: ask the provider. Adopt what it took ("adopted"), or send
    again only when it has no trace ("resent"). "settled" when its own report already answered."""
    message = _unconfirmed(tenant_id, message_id)
    if message is None:
        return "settled"
    claimed_at = aware(message.claimed_at)
    conversation = db.session.get(Conversation, message.conversation_id)
    contact = db.session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    try:
        provider = provider_for(db.session.get(Tenant, tenant_id))
    except ProviderNotConfigured as exc:
        return _fail(message, ProviderError(str(exc), code="provider_not_configured"), contact)
    outbound = _outbound(message, conversation, contact)
    commit_step()  # no transaction held while the provider answers
    try:
        receipt = provider.find_sent(outbound, claimed_at - CLOCK_SKEW)
    except ProviderError as error:
        if error.transient or error.outcome_unknown:
            raise RetryLater(error.retry_after or backoff_seconds(2)) from error
        return _fail(message, error, contact)
    if receipt is not None:
        _record_receipt(tenant_id, message_id, conversation, contact, receipt)
        log.info("message.send-confirmed", extra={"tenant_id": tenant_id, "message_id": message_id})
        return "adopted"
    if not _release_unconfirmed(message, claimed_at):
        return "settled"  # the provider's report arrived meanwhile
    log.info("message.send-not-taken", extra={"tenant_id": tenant_id, "message_id": message_id})
    hand_to_worker(tenant_id, message_id)
    return "resent"


def _unconfirmed(tenant_id: int, message_id: int) -> Message | None:
    """The message if it is still claimed, pending and without the provider's id."""
    return db.session.scalar(
        sa.select(Message).where(
            Message.id == message_id,
            Message.tenant_id == tenant_id,
            Message.delivery_status == PENDING,
            Message.claimed_at.is_not(None),
            Message.provider_message_id.is_(None),
        )
    )


def _release_unconfirmed(message: Message, claimed_at) -> bool:
    """Unclaim a message the provider never took, unless its report adopted it since we asked."""
    released = db.session.execute(
        sa.update(Message)
        .where(
            Message.id == message.id,
            Message.delivery_status == PENDING,
            Message.claimed_at == claimed_at,
            Message.provider_message_id.is_(None),
        )
        .values(claimed_at=None, next_attempt_at=None, enqueued_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    commit_step()
    return released == 1


def check_status(tenant_id: int, message_id: int) -> None:
    """Ask the provider where a sent message stands, and record it (forward only). Raises RetryLater
    when the provider cannot answer for now."""
    for _, later in _check_statuses(tenant_id, [message_id]):
        raise later


def check_statuses(tenant_id: int, message_ids: list[int]) -> None:
    """check_status for a send task's batch; one the provider cannot answer now is asked again on its own."""
    for message_id, later in _check_statuses(tenant_id, message_ids):
        # Not queued (in-process, broker away): the poller asks later.
        enqueue_later(jobs.CHECK_STATUS, tenant_id, message_id, countdown=later.countdown)


_AWAITING_STATUS = (  # built once: every simulator send, and every message the poller finds, comes back here
    sa.select(Message.id, Message.provider_message_id, Tenant)
    .join(Tenant, Tenant.id == Message.tenant_id)
    .where(
        Message.id.in_(sa.bindparam("message_ids", expanding=True)),
        Message.tenant_id == sa.bindparam("tenant"),
        Message.delivery_status == SENT,
        Message.provider_message_id.is_not(None),
    )
    .order_by(Message.id)
)


@use_case
def _check_statuses(tenant_id: int, message_ids: list[int]) -> list[tuple[int, RetryLater]]:
    """Ask the provider about each message still `sent`, then record every answer in one transaction
    (one read and one commit for the batch, none held while the provider answers). Returns the
    messages it could not answer for now, each with when to ask again."""
    rows = db.session.execute(_AWAITING_STATUS, {"message_ids": message_ids, "tenant": tenant_id}).all()
    if not rows:
        return []
    try:
        provider = provider_for(rows[0].Tenant)
    except ProviderNotConfigured:  # the provider was switched off or changed since
        log.warning("message.status-check-no-provider", extra={"tenant_id": tenant_id, "messages": len(rows)})
        return []
    commit_step()  # no transaction held while the provider answers
    reports, later = [], []
    for message_id, provider_message_id, _ in rows:
        try:
            reports.append((message_id, provider.fetch_status(provider_message_id)))
        except ProviderError as error:
            if error.transient:
                later.append((message_id, RetryLater(error.retry_after or 60)))
            else:
                log.warning("message.status-check-refused", extra={"tenant_id": tenant_id, "message_id": message_id})
    for message_id, report in reports:
        if report.status is not None:  # the message is ours and outbound: no need to find it by the provider's id
            apply_status_update(
                tenant_id, message_id, report.status, error_code=report.error_code, error_message=report.error_message
            )
    return later


@use_case
def sweep_unsent() -> int:
    """Re-enqueue what a lost task left behind, within a minute of the loss.

    Pending messages nobody claimed whose task was never queued (Redis was down), was queued long
    ago (taken by a worker that died), or was in a Redis that restarted empty: sent again (the
    claim makes a duplicate task harmless). Messages claimed long ago with no outcome (their worker
    died mid-send): reconciled with the provider, never resent blindly. Returns how many sends.
    """
    now = utcnow()
    unsent = _stale(now, claimed=False, broker_emptied=broker_was_emptied("sends"))
    unconfirmed = _stale(now, claimed=True)
    _mark_queued(unsent + unconfirmed, now)
    for tenant_id, message_id in unsent:
        hand_to_worker(tenant_id, message_id)
    for tenant_id, message_id in unconfirmed:
        enqueue(jobs.RECONCILE_SEND, tenant_id, message_id)
    if unsent or unconfirmed:
        log.info("messages.swept", extra={"requeued": len(unsent), "reconciling": len(unconfirmed)})
    return len(unsent)


def _stale(now, *, claimed: bool, broker_emptied: bool = False) -> list:
    """Pending outbound messages whose task is presumed lost: unclaimed and due, or claimed long ago
    with no outcome; and in both cases never queued, queued long ago, or queued in an emptied Redis."""
    config = current_app.config
    requeue_before = now - timedelta(seconds=config["SWEEP_REQUEUE_AFTER_SECONDS"])
    if claimed:
        due = Message.claimed_at < now - timedelta(seconds=config["SEND_CLAIM_TIMEOUT_SECONDS"])
    else:
        # A Redis that restarted empty lost every queued task, however recent: no grace for those.
        grace = now if broker_emptied else now - timedelta(seconds=config["SWEEP_GRACE_SECONDS"])
        due_at = sa.func.coalesce(Message.next_attempt_at, Message.inserted_at)
        due = sa.and_(Message.claimed_at.is_(None), due_at < grace)
    lost = sa.true() if broker_emptied else sa.or_(Message.enqueued_at.is_(None), Message.enqueued_at < requeue_before)
    return db.session.execute(
        sa.select(Message.tenant_id, Message.id)
        .where(Message.direction == "outbound", Message.delivery_status == PENDING, due, lost)
        .order_by(Message.id)
        .limit(500)
    ).all()


def _mark_queued(rows: list, now) -> None:
    if rows:
        db.session.execute(
            sa.update(Message).where(Message.id.in_([message_id for _, message_id in rows])).values(enqueued_at=now)
        )
    commit_step()  # marked queued before the hand-offs, which clear the mark when they fail


@use_case
def poll_statuses() -> int:
    """Enqueue a status check for messages left at `sent` too long without a final status."""
    config = current_app.config
    now = utcnow()
    poll_after = now - timedelta(seconds=config["STATUS_POLL_AFTER_SECONDS"])
    due = db.session.execute(
        sa.select(Message.tenant_id, Message.id)
        .where(
            Message.direction == "outbound",
            Message.delivery_status == SENT,
            Message.channel != "voice",  # a call in progress is settled by its own reports (services/calls.py)
            Message.provider_message_id.is_not(None),
            Message.sent_at < poll_after,
            Message.sent_at > now - timedelta(seconds=config["STATUS_POLL_GIVE_UP_SECONDS"]),
            sa.or_(Message.status_checked_at.is_(None), Message.status_checked_at < poll_after),
        )
        .limit(200)
    ).all()
    return hand_off(due, jobs.CHECK_STATUS, status_checked_at=now)


@use_case
def purge_idempotency_keys() -> int:
    cutoff = utcnow() - idempotency_key.KEPT_FOR
    return db.session.execute(sa.delete(IdempotencyKey).where(IdempotencyKey.inserted_at < cutoff)).rowcount


def _claimable():
    """Pending outbound messages nobody holds whose time has come (`:due_by` is now plus the
    tolerance). A copy of a task (the sweeper's, a redelivery) must not cut a backoff short: the
    retry's own ETA is set after next_attempt_at, and the tolerance absorbs clock skew between hosts."""
    return sa.and_(
        sa.text(DUE_TO_SEND),  # as written in ix_messages_due, so the planner can use it
        sa.or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= sa.bindparam("due_by")),
    )


def _claim_values():
    return {
        "claimed_at": sa.bindparam("now", type_=Message.claimed_at.type),
        "send_attempts": Message.send_attempts + 1,
        "next_attempt_at": None,
    }


def _with_conversation_and_tenant(message):
    """A read of `message` (Message, or an alias of it) with its conversation, contact and tenant."""
    return (
        sa.select(message, Conversation, Tenant)
        .join(Conversation, Conversation.id == message.conversation_id)
        .join(Tenant, Tenant.id == message.tenant_id)
        # Only the contact comes with the conversation: not its last message nor its unread count.
        .options(sa.orm.lazyload(Conversation.last_message), sa.orm.defer(Conversation.unread_count))
        .execution_options(populate_existing=True)  # as the claim left them, even if this session held them
    )


_READ_CLAIMED = _with_conversation_and_tenant(Message).where(
    Message.id == sa.bindparam("message_id"), Message.tenant_id == sa.bindparam("tenant")
)


class _Claim:
    """A claim (an UPDATE of messages), built once and run with each message's values: building it
    anew for every message cost the worker more CPU than running it.

    On PostgreSQL one statement claims and reads what the send needs: the UPDATE, as a CTE, returns
    the message with the values it wrote (the statement's other reads see the row as it was before).
    SQLite (development) has no UPDATE inside WITH: there it claims, then reads.
    """

    def __init__(self, update: sa.Update):
        self.claim_and_read = _with_conversation_and_tenant(
            sa.orm.aliased(Message, update.returning(*Message.__table__.c).cte("claimed"))
        )
        self.claim_only = update.returning(Message.id).execution_options(synchronize_session=False)

    def __call__(self, params: dict) -> Claimed | None:
        if on_postgresql():
            row = db.session.execute(self.claim_and_read, params).first()
        elif (message_id := db.session.execute(self.claim_only, params).scalar()) is None:
            row = None
        else:
            row = db.session.execute(_READ_CLAIMED, {"message_id": message_id, "tenant": params["tenant"]}).first()
        return Claimed(*row) if row else None


_CLAIM = _Claim(
    sa.update(Message)
    .where(Message.id == sa.bindparam("message_id"), Message.tenant_id == sa.bindparam("tenant"), _claimable())
    .values(_claim_values())
)
_OLDEST_DUE = (
    sa.select(Message.id)
    .where(Message.tenant_id == sa.bindparam("tenant"), _claimable())
    .order_by(Message.id)
    .limit(1)
    .with_for_update(skip_locked=True)  # another task taking it this instant: take the next one
    .scalar_subquery()
)
_CLAIM_NEXT = _Claim(sa.update(Message).where(Message.id == _OLDEST_DUE, _claimable()).values(_claim_values()))


def _claim_params(tenant_id: int, **more) -> dict:
    now = utcnow()
    return {"tenant": tenant_id, "now": now, "due_by": now + CLAIM_EARLY_TOLERANCE, **more}


def _claim(tenant_id: int, message_id: int) -> Claimed | None:
    """Atomically take a pending, unclaimed message; None if it is not ours to send."""
    # Committed by the caller, with what it reads for the send, before the provider is called.
    return _CLAIM(_claim_params(tenant_id, message_id=message_id))


def _claim_next(tenant_id: int) -> Claimed | None:
    """Take the tenant's oldest due message, skipping any another task is taking this instant;
    None when nothing is due."""
    return _CLAIM_NEXT(_claim_params(tenant_id))


def _outbound(message: Message, conversation: Conversation, contact: Contact | None) -> OutboundMessage:
    phone = (contact.phone if contact else None) or conversation.phone_number
    recipient = Recipient(
        phone=phone,
        first_name=contact.first_name if contact else None,
        last_name=contact.last_name if contact else None,
        email=contact.email if contact else None,
        provider_contact_id=contact.provider_contact_id if contact else None,
    )
    return OutboundMessage(
        channel=message.channel,
        recipient=recipient,
        body=message.body,
        media_urls=tuple(attachment["url"] for attachment in message.attachments),
        reference=str(message.id),
    )


def _handle_error(message: Message, error: ProviderError, attempt: int, contact: Contact | None) -> str:
    rate_limited = error.rate_limited
    if error.transient and (rate_limited or attempt < current_app.config["SEND_MAX_ATTEMPTS"]):
        countdown = max(backoff_seconds(attempt), error.retry_after or 0)
        message.error_code, message.error_message = error.code, error.message  # the last error, for support
        _release(message, countdown, counts_as_attempt=not rate_limited)
        log.info(
            "message.send-retry",
            extra={"tenant_id": message.tenant_id, "message_id": message.id, "code": error.code, "in": countdown},
        )
        raise RetryLater(countdown, rate_limited=rate_limited)
    return _fail(message, error, contact)


def _fail(message: Message, error: ProviderError, contact: Contact | None) -> str:
    if error.opted_out and contact is not None:
        set_opt_out(contact, True)
    if error.bad_credentials:
        log.warning("provider.bad-credentials", extra={"tenant_id": message.tenant_id})
    apply_status_update(message.tenant_id, message.id, FAILED, error_code=error.code, error_message=error.message)
    commit_step()
    link_provider_contact(contact, error.provider_contact_id)  # the provider learned who they are before failing
    log.info("message.failed", extra={"tenant_id": message.tenant_id, "message_id": message.id, "code": error.code})
    return "failed"


def _release(message: Message, countdown: float, *, counts_as_attempt: bool, requeued: bool = True) -> None:
    """Unclaim the message; `requeued` when the task is about to retry itself, else the sweeper will."""
    message.claimed_at = None
    message.next_attempt_at = utcnow() + timedelta(seconds=countdown)
    message.enqueued_at = utcnow() if requeued else None
    if not counts_as_attempt:
        message.send_attempts -= 1
    commit_step()
