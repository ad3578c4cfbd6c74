"""Inbound media copied into our storage, so a customer's photo outlives the provider's retention.

A beat job finds inbound messages whose attachments are not copied yet, marks them taken and
enqueues one copy task per message; the task reads each file through the provider port (with the
tenant's credentials) and stores it under `inbound/<tenant>/<message>/<n>`. A copy that fails for
now is taken again after COPY_RETRY_AFTER; a file the provider no longer has, or a provider that
keeps no private media (GHL's attachment URLs are public), is marked and left as its URL.
"""

import logging
from datetime import timedelta

import sqlalchemy as sa

from app import jobs
from app.celery import enqueue
from app.crypto import SecretUnreadable
from app.extensions import db
from app.models import Message, Tenant
from app.models.base import utcnow
from app.providers.base import FetchesMedia, ProviderError
from app.services.provider_registry import ProviderNotConfigured, provider_for
from app.services.unit_of_work import commit_step, use_case
from app.storage import file_store

log = logging.getLogger(__name__)

COPY_RETRY_AFTER = timedelta(minutes=10)
GIVE_UP_AFTER = timedelta(days=3)
MAX_COPY_BYTES = 20 * 1024 * 1024  # an MMS carries at most 5 MB; WhatsApp up to 16 MB
BATCH = 100


@use_case
def sweep_inbound_media() -> int:
    """Enqueue a copy for each inbound message whose media are not copied (or whose copy was lost)."""
    now = utcnow()
    due = db.session.execute(
        sa.select(Message.tenant_id, Message.id)
        .where(
            Message.direction == "inbound",
            Message.media_copied_at.is_(None),
            sa.text("messages.attachments <> '[]'"),
            Message.inserted_at > now - GIVE_UP_AFTER,
            sa.or_(Message.media_copy_claimed_at.is_(None), Message.media_copy_claimed_at < now - COPY_RETRY_AFTER),
        )
        .order_by(Message.inserted_at)
        .limit(BATCH)
    ).all()
    if due:
        db.session.execute(
            sa.update(Message).where(Message.id.in_([row.id for row in due])).values(media_copy_claimed_at=now)
        )
    commit_step()  # taken before the tasks run, so the next sweep does not enqueue them again
    for tenant_id, message_id in due:
        enqueue(jobs.COPY_INBOUND_MEDIA, tenant_id, message_id)
    return len(due)


@use_case
def copy_inbound_media(tenant_id: int, message_id: int) -> str:
    """Copy one message's media into storage. Returns "copied", "skipped" or "retry-later"."""
    message = db.session.scalar(sa.select(Message).where(Message.id == message_id, Message.tenant_id == tenant_id))
    if message is None or message.media_copied_at is not None or not message.attachments:
        return "skipped"
    try:
        provider = provider_for(db.session.get(Tenant, tenant_id))
    except (ProviderNotConfigured, SecretUnreadable):
        return _done(message, list(message.attachments))
    if not isinstance(provider, FetchesMedia):
        return _done(message, list(message.attachments))  # public URLs (GHL): nothing private to keep
    attachments = [dict(attachment) for attachment in message.attachments]
    commit_step()  # no transaction held while the provider answers
    for index, attachment in enumerate(attachments):
        if attachment.get("stored_key") or attachment.get("copy_failed") or not attachment.get("url"):
            continue
        try:
            data, content_type = _read(provider, attachment["url"])
        except ProviderError as error:
            if error.transient:
                log.info("media.copy-retry", extra={"tenant_id": tenant_id, "message_id": message_id})
                return "retry-later"  # the sweeper takes it again after COPY_RETRY_AFTER
            attachment["copy_failed"] = error.code or "refused"
            continue
        key = f"inbound/{tenant_id}/{message_id}/{index}"
        file_store().put(key, data, content_type)
        attachment |= {
            "stored_key": key,
            "size": len(data),
            "content_type": attachment.get("content_type") or content_type,
        }
    return _done(message, attachments)


def _read(provider: FetchesMedia, url: str) -> tuple[bytes, str]:
    stream = provider.fetch_media(url)
    try:
        data = bytearray()
        for chunk in stream.chunks:
            data += chunk
            if len(data) > MAX_COPY_BYTES:
                raise ProviderError("The file is larger than we keep.", code="too_large")
        return bytes(data), stream.content_type
    finally:
        stream.close()


def _done(message: Message, attachments: list) -> str:
    message.attachments = attachments
    message.media_copied_at = utcnow()
    log.info("media.copied", extra={"tenant_id": message.tenant_id, "message_id": message.id})
    return "copied"
