"""Voicemail transcripts from providers that are asked for them (GHL; Twilio tells us by callback).

A beat job finds voicemails without their words, recorded in the last day, whose next check is
due, and enqueues one fetch per message; a fetch that finds nothing yet asks again later (after 2,
5, 15, 60, then 180 minutes). The words go through `inbound.apply_call_outcome`, the one rule for a
call's text, so the body reads "Voicemail, N s: <words>" whichever provider transcribed it.
"""

import logging
from datetime import timedelta

import sqlalchemy as sa

from app import jobs
from app.celery import enqueue
from app.crypto import SecretUnreadable
from app.extensions import db
from app.models import Message, Tenant
from app.models.base import aware, utcnow
from app.providers.base import CallOutcome, ProviderError, TranscribesCalls
from app.services.inbound import apply_call_outcome
from app.services.provider_registry import ProviderNotConfigured, provider_for
from app.services.unit_of_work import commit_step, use_case

log = logging.getLogger(__name__)

WAITS = (timedelta(minutes=2), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=3))
GIVE_UP_AFTER = timedelta(days=1)
CLAIM_FOR = timedelta(minutes=10)  # a fetch lost with its worker is enqueued again after this
BATCH = 100


@use_case
def sweep_transcripts() -> int:
    """Enqueue a transcript fetch for each voicemail whose check is due."""
    now = utcnow()
    due = db.session.execute(
        sa.select(Message.tenant_id, Message.id)
        .where(
            Message.channel == "voice",
            Message.recording_url.is_not(None),
            Message.transcript.is_(None),
            Message.inserted_at > now - GIVE_UP_AFTER,
            Message.provider_message_id.is_not(None),
            sa.or_(Message.transcript_next_check_at.is_(None), Message.transcript_next_check_at <= now),
        )
        .order_by(Message.inserted_at)
        .limit(BATCH)
    ).all()
    if due:
        db.session.execute(
            sa.update(Message)
            .where(Message.id.in_([row.id for row in due]))
            .values(transcript_next_check_at=now + CLAIM_FOR)
        )
    commit_step()  # taken before the tasks run
    for tenant_id, message_id in due:
        enqueue(jobs.FETCH_TRANSCRIPT, tenant_id, message_id)
    return len(due)


@use_case
def fetch_transcript(tenant_id: int, message_id: int) -> str:
    """Ask the provider for one voicemail's words. Returns "transcribed", "later" or "skipped"."""
    message = db.session.scalar(sa.select(Message).where(Message.id == message_id, Message.tenant_id == tenant_id))
    if message is None or message.transcript is not None or not message.provider_message_id:
        return "skipped"
    try:
        provider = provider_for(db.session.get(Tenant, tenant_id))
    except (ProviderNotConfigured, SecretUnreadable):
        provider = None
    if not isinstance(provider, TranscribesCalls):
        # Twilio's words come by callback; nothing to ask for: never again.
        message.transcript_next_check_at = aware(message.inserted_at) + GIVE_UP_AFTER
        return "skipped"
    provider_message_id = message.provider_message_id
    commit_step()  # no transaction held while the provider answers
    try:
        words = provider.fetch_transcript(provider_message_id)
    except ProviderError as error:
        log.info("voicemail.transcript-check-failed", extra={"tenant_id": tenant_id, "code": error.code})
        words = None
    message = db.session.get(Message, message_id)
    if not words:
        message.transcript_next_check_at = _next_check(message)
        return "later"
    apply_call_outcome(message, CallOutcome("voicemail", transcript=words))
    log.info("voicemail.transcribed", extra={"tenant_id": tenant_id, "message_id": message_id})
    return "transcribed"


def _next_check(message: Message):
    age = utcnow() - aware(message.inserted_at)
    elapsed = timedelta()
    for wait in WAITS:
        elapsed += wait
        if age < elapsed:
            return aware(message.inserted_at) + elapsed
    return utcnow() + WAITS[-1]
