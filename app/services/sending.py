"""The outbound pipeline: claim a pending message, hand it to the tenant's provider, record the outcome.

Runs in a worker. Every message is stored `pending` before it gets here, so nothing is lost if a
worker or Redis dies; the claim makes sure no two workers send the same message.
"""

import logging
import random
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app import jobs
from app.celery import enqueue
from app.crypto import SecretUnreadable
from app.extensions import db
from app.models import Contact, Conversation, IdempotencyKey, Message, Tenant, idempotency_key
from app.models.base import utcnow
from app.models.conversation import OPT_OUT_CHANNELS
from app.providers.base import FAILED, PENDING, SENT, OutboundMessage, ProviderError, Recipient
from app.services.contacts import set_opt_out
from app.services.delivery_status import apply_status_update
from app.services.provider_registry import ProviderNotConfigured, provider_for
from app.services.rate_limits import wait_for_send_slot

log = logging.getLogger(__name__)

CLAIM_EARLY_TOLERANCE = timedelta(seconds=1)


@dataclass
class RetryLater(Exception):
    """The send should be tried again after `countdown` seconds (the message is pending and unclaimed)."""

    countdown: float


def hand_to_worker(tenant_id: int, message_id: int) -> bool:
    """Enqueue the send of a committed, pending message. Its enqueued_at was set optimistically
    with the row; a failed hand-off clears it so the sweeper picks the message up soon."""
    if enqueue(jobs.SEND_MESSAGE, tenant_id, message_id):
        return True
    leave_to_sweeper(tenant_id, message_id)
    return False


def leave_to_sweeper(tenant_id: int, message_id: int) -> None:
    """The retry will not be queued by its task: let the sweeper enqueue it once it is due."""
    db.session.execute(
        sa.update(Message)
        .where(Message.id == message_id, Message.tenant_id == tenant_id, Message.delivery_status == PENDING)
        .values(enqueued_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def send_pending_message(tenant_id: int, message_id: int) -> str:
    """Send one pending message. Returns "sent", "failed" or "skipped"; raises RetryLater."""
    attempt = _claim(tenant_id, message_id)
    if attempt is None:
        return "skipped"  # sent, failed, or in another worker's hands: a redelivered task is harmless
    message = db.session.get(Message, message_id)
    tenant = db.session.get(Tenant, tenant_id)
    conversation = db.session.get(Conversation, message.conversation_id)
    contact = db.session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    if contact is not None and contact.sms_opted_out and message.channel in OPT_OUT_CHANNELS:
        # Their STOP arrived while the message waited for a worker or a retry: honour it.
        return _fail(message, ProviderError("The contact has opted out (STOP).", code="opted_out"), contact)
    try:
        provider = provider_for(tenant)
    except (ProviderNotConfigured, SecretUnreadable) as exc:  # the message names no secret
        return _fail(message, ProviderError(str(exc), code="provider_not_configured"), contact)

    try:
        wait = wait_for_send_slot(tenant)
        outbound = _outbound(tenant, message, conversation, contact)
    except Exception:
        # Nothing reached the provider (e.g. Redis, the rate limiter's store, went down mid-task):
        # hand the message back unclaimed so the sweeper re-enqueues it, rather than leaving it
        # claimed until it is failed as "interrupted".
        db.session.rollback()
        _release(message, 0, counts_as_attempt=False, requeued=False)
        raise
    if wait:
        _release(message, wait, counts_as_attempt=False)
        raise RetryLater(wait)
    db.session.commit()  # hold no transaction or connection while the provider answers
    try:
        receipt = provider.send(outbound)
    except ProviderError as error:
        return _handle_error(message, error, attempt, contact)
    except Exception as exc:  # an adapter bug must not strand the message: retry, then fail
        log.exception("message.send-crashed", extra={"tenant_id": tenant_id, "message_id": message_id})
        return _handle_error(
            message, ProviderError(exc.__class__.__name__, code="internal", transient=True), attempt, contact
        )

    message.provider_message_id = receipt.provider_message_id
    message.ghl_message_id = receipt.ghl_message_id
    conversation.ghl_conversation_id = receipt.ghl_conversation_id or conversation.ghl_conversation_id
    message.error_code = message.error_message = None
    db.session.flush()
    apply_status_update(tenant_id, message_id, receipt.status or SENT, commit=False)
    db.session.commit()  # the outcome first: nothing after this line can lose it
    _remember_ghl_contact(contact, receipt.ghl_contact_id)
    log.info("message.sent", extra={"tenant_id": tenant_id, "message_id": message_id, "provider": provider.name})
    if receipt.check_status_after is not None:
        enqueue(jobs.CHECK_STATUS, tenant_id, message_id, countdown=receipt.check_status_after)
    return "sent"


def check_status(tenant_id: int, message_id: int) -> None:
    """Ask the provider where a sent message stands, and record it (forward only)."""
    message = db.session.scalar(sa.select(Message).where(Message.id == message_id, Message.tenant_id == tenant_id))
    if message is None or message.delivery_status != SENT or not message.provider_message_id:
        return
    tenant = db.session.get(Tenant, tenant_id)
    try:
        provider = provider_for(tenant)
    except (ProviderNotConfigured, SecretUnreadable):  # the provider was switched off or changed since
        log.warning("message.status-check-no-provider", extra={"tenant_id": tenant_id, "message_id": message_id})
        return
    provider_message_id = message.provider_message_id
    db.session.commit()
    try:
        report = provider.fetch_status(provider_message_id)
    except ProviderError as error:
        if error.transient:
            raise RetryLater(error.retry_after or 60) from error
        log.warning("message.status-check-refused", extra={"tenant_id": tenant_id, "message_id": message_id})
        return
    if report.status is not None:
        apply_status_update(
            tenant_id, message_id, report.status, error_code=report.error_code, error_message=report.error_message
        )


def sweep_unsent() -> int:
    """Re-enqueue pending messages nobody claimed (their enqueue was lost, e.g. Redis was down).

    A message claimed long ago with no outcome means its worker died mid-send. We cannot know
    whether the provider got it, so it is failed with a clear reason rather than risk texting twice.
    """
    config = current_app.config
    now = utcnow()
    grace = now - timedelta(seconds=config["SWEEP_GRACE_SECONDS"])
    requeue_before = now - timedelta(seconds=config["SWEEP_REQUEUE_AFTER_SECONDS"])
    unsent = db.session.execute(
        sa.select(Message.tenant_id, Message.id)
        .where(
            Message.direction == "outbound",
            Message.delivery_status == PENDING,
            Message.claimed_at.is_(None),
            sa.func.coalesce(Message.next_attempt_at, Message.inserted_at) < grace,
            sa.or_(Message.enqueued_at.is_(None), Message.enqueued_at < requeue_before),
        )
        .order_by(Message.id)
        .limit(500)
    ).all()
    interrupted = db.session.execute(
        sa.select(Message.tenant_id, Message.id).where(
            Message.direction == "outbound",
            Message.delivery_status == PENDING,
            Message.claimed_at < now - timedelta(seconds=config["SEND_CLAIM_TIMEOUT_SECONDS"]),
        )
    ).all()
    for tenant_id, message_id in interrupted:
        apply_status_update(
            tenant_id,
            message_id,
            FAILED,
            error_code="send_interrupted",
            error_message="The worker stopped while sending; check with the customer before sending again.",
        )
    if unsent:
        db.session.execute(
            sa.update(Message).where(Message.id.in_([message_id for _, message_id in unsent])).values(enqueued_at=now)
        )
    db.session.commit()
    for tenant_id, message_id in unsent:
        hand_to_worker(tenant_id, message_id)
    if unsent or interrupted:
        log.info("messages.swept", extra={"requeued": len(unsent), "interrupted": len(interrupted)})
    return len(unsent)


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
            Message.provider_message_id.is_not(None),
            Message.sent_at < poll_after,
            Message.sent_at > now - timedelta(seconds=config["STATUS_POLL_GIVE_UP_SECONDS"]),
            sa.or_(Message.status_checked_at.is_(None), Message.status_checked_at < poll_after),
        )
        .limit(200)
    ).all()
    if due:
        db.session.execute(
            sa.update(Message)
            .where(Message.id.in_([message_id for _, message_id in due]))
            .values(status_checked_at=now)
        )
    db.session.commit()
    for tenant_id, message_id in due:
        enqueue(jobs.CHECK_STATUS, tenant_id, message_id)
    return len(due)


def purge_idempotency_keys() -> int:
    cutoff = utcnow() - idempotency_key.KEPT_FOR
    deleted = db.session.execute(sa.delete(IdempotencyKey).where(IdempotencyKey.inserted_at < cutoff)).rowcount
    db.session.commit()
    return deleted


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with jitter, capped: about base * 2^(attempt-1), half of it random."""
    config = current_app.config
    delay = min(config["SEND_BACKOFF_MAX_SECONDS"], config["SEND_BACKOFF_BASE_SECONDS"] * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (jitter, not security)


def _claim(tenant_id: int, message_id: int) -> int | None:
    """Atomically take a pending, unclaimed message; returns its attempt number, or None if not ours."""
    now = utcnow()
    attempt = db.session.execute(
        sa.update(Message)
        .where(
            Message.id == message_id,
            Message.tenant_id == tenant_id,
            Message.direction == "outbound",
            Message.delivery_status == PENDING,
            Message.claimed_at.is_(None),
            # A copy of the task (the sweeper's, a redelivery) must not cut a backoff short. The
            # retry's own ETA is set after next_attempt_at; the tolerance absorbs clock skew between hosts.
            sa.or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now + CLAIM_EARLY_TOLERANCE),
        )
        .values(claimed_at=now, send_attempts=Message.send_attempts + 1, next_attempt_at=None)
        .returning(Message.send_attempts)
        .execution_options(synchronize_session=False)
    ).scalar()
    db.session.commit()
    return attempt


def _outbound(tenant: Tenant, message: Message, conversation: Conversation, contact: Contact | None) -> OutboundMessage:
    phone = (contact.phone if contact else None) or conversation.phone_number
    recipient = Recipient(
        phone=phone,
        first_name=contact.first_name if contact else None,
        last_name=contact.last_name if contact else None,
        email=contact.email if contact else None,
        ghl_contact_id=contact.ghl_contact_id if contact else None,
    )
    callback = None
    if tenant.sms_provider == "twilio":
        callback = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/webhooks/twilio"
    return OutboundMessage(
        channel=message.channel,
        recipient=recipient,
        body=message.body,
        media_urls=tuple(attachment["url"] for attachment in message.attachments),
        status_callback_url=callback,
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
        raise RetryLater(countdown)
    return _fail(message, error, contact)


def _remember_ghl_contact(contact: Contact | None, ghl_contact_id: str | None) -> None:
    """Keep GHL's id for our contact, so the next send skips the upsert and webhooks find them.

    Another of our contacts may hold that id already (created from a webhook before GHL told us
    who it was): then the link is left as it is, for staff to merge, rather than failing the send.
    """
    if contact is None or not ghl_contact_id or contact.ghl_contact_id == ghl_contact_id:
        return
    try:
        with db.session.begin_nested():
            contact.ghl_contact_id = ghl_contact_id
        db.session.commit()
    except IntegrityError:
        log.warning("contact.ghl-id-held-by-another", extra={"tenant_id": contact.tenant_id, "contact_id": contact.id})


def _fail(message: Message, error: ProviderError, contact: Contact | None) -> str:
    if error.opted_out and contact is not None:
        set_opt_out(contact, True)
    if error.bad_credentials:
        log.warning("provider.bad-credentials", extra={"tenant_id": message.tenant_id})
    apply_status_update(
        message.tenant_id, message.id, FAILED, error_code=error.code, error_message=error.message, commit=False
    )
    db.session.commit()
    _remember_ghl_contact(contact, error.details.get("ghl_contact_id"))  # upserted before the send failed
    log.info("message.failed", extra={"tenant_id": message.tenant_id, "message_id": message.id, "code": error.code})
    return "failed"


def _release(message: Message, countdown: float, *, counts_as_attempt: bool, requeued: bool = True) -> None:
    """Unclaim the message; `requeued` when the task is about to retry itself, else the sweeper will."""
    message.claimed_at = None
    message.next_attempt_at = utcnow() + timedelta(seconds=countdown)
    message.enqueued_at = utcnow() if requeued else None
    if not counts_as_attempt:
        message.send_attempts -= 1
    db.session.commit()
