"""Messages: what staff send (stored, then handed to delivery), and a conversation's history."""

import hashlib
import json
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.errors import ChannelUnavailable, Conflict, ValidationFailed
from app.extensions import db
from app.live import notify
from app.models import Contact, Conversation, IdempotencyKey, Message, Tenant, User, idempotency_key
from app.models.base import aware, utcnow
from app.models.conversation import OPT_OUT_CHANNELS
from app.services import uploads
from app.services.contacts import find_contact_by_phone, get_contact
from app.services.conversations import (
    MESSAGE_ITEM,
    NEWEST_FIRST,
    append_message,
    find_or_start_open_conversation,
    get_conversation,
    move_to,
    start_with_message,
)
from app.services.delivery import hand_to_worker
from app.services.provider_registry import has_provider
from app.services.queries import page
from app.services.unit_of_work import commit_step, use_case

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Draft:
    """What staff asked to send."""

    body: str
    media_urls: tuple[str, ...] = ()
    upload_ids: tuple[int, ...] = ()  # uploads of ours among media_urls: kept with the message
    idempotency_key: str | None = None  # the client's Idempotency-Key header


@dataclass(frozen=True)
class Sent:
    conversation: Conversation
    message: Message
    replayed: bool = False  # True when an Idempotency-Key matched an earlier request


@use_case(keep_loaded=True)  # answered with what it stored: no reload after the commit
def send_message(tenant: Tenant, conversation_id: int, sender: User, draft: Draft) -> Sent:
    """Send from staff into a conversation.

    A closed conversation is reopened; an archived one answers 409. The message is stored before
    anything else can fail: as `sent` on web chat (the widget reads it from here), as `pending` on
    a provider channel, where a worker sends it after the commit.
    """
    fingerprint = _fingerprint("conversation", conversation_id, draft)
    if replay := _replay(tenant, draft.idempotency_key, fingerprint):
        return replay
    conversation = get_conversation(tenant, conversation_id, for_update=True)
    if conversation.status == "archived":
        raise Conflict("This conversation is archived; reopen it to send.", code="conversation_archived")
    ensure_can_send(tenant, conversation.channel, conversation.contact)
    if conversation.status == "closed":
        move_to(conversation, "open")  # 409 when the contact has started another conversation since
    message = _new_message(tenant, sender, draft, conversation.channel)
    append_message(conversation, message)
    return _dispatch(tenant, conversation, message, sender, draft, fingerprint)


@use_case(keep_loaded=True)  # answered with what it stored: no reload after the commit
def send_to_contact(
    tenant: Tenant, sender: User, draft: Draft, *, channel: str, contact_id: int | None = None, phone: str | None = None
) -> Sent:
    """Send to a contact (by id) or a phone number, in the contact's open conversation on `channel`.

    The contact and the conversation are created when new. Nothing is stored when the send is refused.
    """
    fingerprint = _fingerprint("contact", [contact_id, phone, channel], draft)
    if replay := _replay(tenant, draft.idempotency_key, fingerprint):
        return replay
    contact = get_contact(tenant, contact_id) if contact_id is not None else find_contact_by_phone(tenant, phone)
    ensure_can_send(tenant, channel, contact)
    message = _new_message(tenant, sender, draft, channel)
    if contact is None:  # a new number: no conversation to look for
        conversation, message = start_with_message(tenant, phone, channel, message)
    else:
        conversation = find_or_start_open_conversation(tenant, contact, channel)
        append_message(conversation, message)
    return _dispatch(tenant, conversation, message, sender, draft, fingerprint)


def ensure_can_send(tenant: Tenant, channel: str, contact: Contact | None) -> None:
    """Raise unless a staff message on `channel` can reach `contact` for this tenant."""
    if channel == "email":
        raise ChannelUnavailable("Email is not available yet.")
    if channel == "voice":
        raise ChannelUnavailable("A voice conversation cannot carry text; send on sms instead.")
    if channel != "web" and not has_provider(tenant):
        raise ChannelUnavailable()
    if channel in OPT_OUT_CHANNELS and contact is not None and contact.sms_opted_out:
        raise ValidationFailed("This contact has opted out of text messages (STOP).", code="opted_out")


def list_messages(
    tenant: Tenant, conversation_id: int, *, limit: int, offset: int = 0, before: int | None = None
) -> tuple[list, int, int | None]:
    """A page of a conversation's messages (as MESSAGE_ITEM reads them), oldest first within the page.

    Pages run backwards from the newest message: `offset` skips the newest ones, `before` (a
    message id) is a cursor that stays stable while new messages arrive. Returns the messages, the
    total matching, and the cursor for the next (older) page, or None at the start.
    """
    ids = sa.select(Message.id).where(Message.tenant_id == tenant.id, Message.conversation_id == conversation_id)
    if before is not None:
        ids = ids.where(_older_than(tenant, conversation_id, before))
    newest_first = page(
        ids, view=MESSAGE_ITEM, order_by=NEWEST_FIRST, limit=limit, offset=offset, cursor_of=lambda message: message.id
    )
    if not newest_first.rows:  # an empty page, or no conversation of the tenant's (404)
        get_conversation(tenant, conversation_id)
    return list(reversed(newest_first.rows)), newest_first.total, newest_first.next_before


def _older_than(tenant: Tenant, conversation_id: int, message_id: int):
    """Messages before `message_id` in the conversation's order (time, then id)."""
    anchor = db.session.execute(
        sa.select(Message.inserted_at, Message.id).where(
            Message.id == message_id, Message.tenant_id == tenant.id, Message.conversation_id == conversation_id
        )
    ).first()
    if anchor is None:  # not a message of this conversation: fall back to plain id order
        return Message.id < message_id
    return sa.tuple_(Message.inserted_at, Message.id) < sa.tuple_(anchor.inserted_at, anchor.id)


def _new_message(tenant: Tenant, sender: User, draft: Draft, channel: str) -> Message:
    """Staff's message as it is stored, not yet in a conversation."""
    via_provider = channel != "web"
    return Message(
        tenant_id=tenant.id,
        sender_id=sender.id,
        sender_type="staff",
        body=draft.body,
        channel=channel,
        direction="outbound",
        delivery_status="pending" if via_provider else "sent",
        enqueued_at=utcnow() if via_provider else None,  # optimistic: cleared if the hand-off fails
        sent_at=None if via_provider else utcnow(),
        attachments=[{"url": url, "content_type": None} for url in draft.media_urls],
    )


def _dispatch(
    tenant: Tenant, conversation: Conversation, message: Message, sender: User, draft: Draft, fingerprint: str
):
    """After the message is in the session: its idempotency key, the commit, then the hand-off to a worker."""
    if draft.idempotency_key:
        db.session.add(
            IdempotencyKey(
                tenant_id=tenant.id, key=draft.idempotency_key, request_fingerprint=fingerprint, message_id=message.id
            )
        )
    if draft.upload_ids:
        uploads.mark_attached(tenant, draft.upload_ids)
    notify.message_created(message, sender.name)  # live streams: published when this commits (app/live)
    try:
        db.session.flush()
        # The answer shows it: loaded now, after the flush (from the identity map, no query), so a
        # database gone after the commit cannot turn the stored message's 201 into a 503 (a client
        # retrying would text twice). Loaded before the flush, it would add a post_update.
        conversation.last_message  # noqa: B018
        commit_step()  # stored before anything can fail, and before the worker looks for it
    except IntegrityError:
        db.session.rollback()
        # Only the idempotency key is unique here: the same key raced us and won. Answer with its message.
        if replay := _replay(tenant, draft.idempotency_key, fingerprint):
            return replay
        raise
    if message.delivery_status == "pending":
        # After the commit, so the worker finds the row; if the broker is down the sweeper retries.
        hand_to_worker(tenant.id, message.id)
    log.info(
        "message.outbound-accepted",
        extra={"tenant_id": tenant.id, "conversation_id": conversation.id, "message_id": message.id},
    )
    return Sent(conversation, message)


def _fingerprint(target_kind: str, target, draft: Draft) -> str:
    request = {"to": [target_kind, target], "body": draft.body, "media_urls": list(draft.media_urls)}
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def _replay(tenant: Tenant, key: str | None, fingerprint: str) -> Sent | None:
    """The earlier result for this Idempotency-Key (within 24 hours), or None."""
    if not key:
        return None
    row = db.session.scalar(
        sa.select(IdempotencyKey).where(IdempotencyKey.tenant_id == tenant.id, IdempotencyKey.key == key)
    )
    if row is None:
        return None
    if aware(row.inserted_at) < utcnow() - idempotency_key.KEPT_FOR:
        db.session.delete(row)  # expired: the key may be used again
        db.session.flush()
        return None
    if row.request_fingerprint != fingerprint:
        raise Conflict("This Idempotency-Key was already used for a different request.", code="idempotency_key_reused")
    message = db.session.get(Message, row.message_id)
    return Sent(db.session.get(Conversation, message.conversation_id), message, replayed=True)
