"""Push notifications: who is told about what, with which badge, and a burst told once.

Other services call the three `notify_*` hooks inside their use case: each decides at once and
enqueues (by id, on the "push" queue) once the use case has committed, and never raises, so a push
problem can never undo or fail what was stored.
The tasks then call the use cases below, which build each user's notification from the database,
release the connection, and hand it to the platform's backend (app/push).

Who is told:
- a customer's message: the assignee, or every user of the account when nobody is assigned;
- an assignment: the new assignee, unless they assigned it to themselves;
- each only if their preferences allow it and they have not muted the conversation.
The badge is the user's own unread count: unread inbound messages in conversations (not archived)
assigned to them or to nobody. Reading a conversation sends a silent badge update.
"""

import logging
import random

import redis
import sqlalchemy as sa
from flask import current_app

from app import jobs, push
from app.celery import enqueue, redis_client
from app.errors import NotFound, ValidationFailed
from app.extensions import db
from app.models import Conversation, ConversationMute, Device, Message, NotificationPreference, User
from app.services.devices import forget_device
from app.services.notification_content import inbound_notification, preview, title_for
from app.services.unit_of_work import after_commit, commit_step

log = logging.getLogger(__name__)

LAST_PUSHED_TTL_SECONDS = 24 * 3600


# --- Hooks: called by other services; they enqueue after the commit ----------------------------


def notify_inbound(message: Message) -> None:
    """A customer's message was stored: push it to the right phones, once per burst in its conversation.

    Decided now, enqueued once the use case has committed (the worker reads the rows by id). The
    first message of a burst starts a short countdown (PUSH_COALESCE_SECONDS); messages arriving
    meanwhile join it, and the push carries the latest of them.
    """
    if message.direction != "inbound" or message.read_at is not None:  # history is stored read
        return
    if message.channel == "voice" and preview(message).startswith("Call "):
        return  # a call someone answered is not news (a ringing, missed or voicemail call is)
    tenant_id, conversation_id = message.tenant_id, message.conversation_id
    if not _has_devices(tenant_id):
        return  # nobody in the account has a phone registered: no task to queue
    after_commit(lambda: _start_burst(tenant_id, conversation_id))


def notify_assigned(conversation: Conversation, *, actor_id: int | None) -> None:
    """Tell the new assignee, unless they took it themselves."""
    if conversation.assigned_to is None or conversation.assigned_to == actor_id:
        return
    if not _has_devices(conversation.tenant_id, conversation.assigned_to):
        return
    args = (conversation.tenant_id, conversation.assigned_to, "assigned", conversation.id, None)
    after_commit(lambda: _enqueue_safely(jobs.PUSH_SEND, *args))


def notify_read(conversation: Conversation, marked: int) -> None:
    """Messages were read: badges that counted them are updated silently on every phone."""
    if marked and _has_devices(conversation.tenant_id):
        args = (conversation.tenant_id, conversation.id)
        after_commit(lambda: _enqueue_safely(jobs.PUSH_BADGE, *args))


def _has_devices(tenant_id: int, user_id: int | None = None) -> bool:
    query = sa.select(Device.id).where(Device.tenant_id == tenant_id)
    if user_id is not None:
        query = query.where(Device.user_id == user_id)
    return db.session.scalar(query.limit(1)) is not None


def _start_burst(tenant_id: int, conversation_id: int) -> None:
    try:
        window = current_app.config["PUSH_COALESCE_SECONDS"]
        markers = _markers()
        if markers is not None and not markers.set(_burst_key(conversation_id), 1, nx=True, ex=int(window) + 60):
            return  # a push for this conversation is already counting down: it will carry this message
        enqueued = enqueue(jobs.PUSH_INBOUND, tenant_id, conversation_id, countdown=window)
        if not enqueued and markers is not None:  # let the next message try again
            markers.delete(_burst_key(conversation_id))
    except Exception as exc:  # Redis or the broker down: the message is stored; only its push is lost
        log.warning(
            "push.enqueue-failed",
            extra={"tenant_id": tenant_id, "conversation_id": conversation_id, "error": exc.__class__.__name__},
        )


def _enqueue_safely(task_name: str, *args, countdown: float | None = None) -> None:
    try:
        enqueue(task_name, *args, countdown=countdown)
    except Exception as exc:
        log.warning("push.enqueue-failed", extra={"task": task_name, "error": exc.__class__.__name__})


# --- Use cases run by the push tasks -------------------------------------------------------------


def push_inbound(tenant_id: int, conversation_id: int) -> str:
    """The end of a burst: push the conversation's latest unread customer message to whoever is told."""
    markers = _markers()
    if markers is not None:
        markers.delete(_burst_key(conversation_id))  # first: a message from now on starts a new burst
    conversation = _conversation(tenant_id, conversation_id)
    if conversation is None or conversation.status == "archived":
        return "no-conversation"
    message = db.session.scalar(
        sa.select(Message)
        .where(
            Message.tenant_id == tenant_id,
            Message.conversation_id == conversation_id,
            Message.direction == "inbound",
            Message.read_at.is_(None),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    if message is None:
        return "already-read"  # someone read the burst before it was pushed
    if markers is not None:
        # What was pushed last, as "message id:what it said": a redelivered task repeats nothing, while a
        # call that became a voicemail (same message, new text) is told again.
        pushed = f"{message.id}:{preview(message)}"
        last = (markers.get(_last_key(conversation_id)) or b"0:").decode()
        last_id, _, _ = last.partition(":")
        if int(last_id) > message.id or last == pushed:
            return "already-pushed"
        markers.set(_last_key(conversation_id), pushed, ex=LAST_PUSHED_TTL_SECONDS)
    recipients = inbound_recipients(conversation)
    badges = badges_for(tenant_id, recipients)
    notifications = {user_id: inbound_notification(conversation, message, badges[user_id]) for user_id in recipients}
    for user_id, notification in notifications.items():
        _deliver(tenant_id, user_id, notification, ("inbound", conversation_id, message.id))
    return f"pushed to {len(recipients)} users"


def push_to_user(
    tenant_id: int,
    user_id: int,
    kind: str,
    conversation_id: int | None,
    message_id: int | None,
    device_ids: list[int] | None = None,
    attempt: int = 0,
) -> dict:
    """One notification to one user's devices (or, on a retry, to the devices that failed)."""
    notification = build_notification(tenant_id, user_id, kind, conversation_id, message_id)
    if notification is None:
        return {}
    return _deliver(tenant_id, user_id, notification, (kind, conversation_id, message_id), device_ids, attempt)


def push_badges(tenant_id: int, conversation_id: int) -> int:
    """A silent badge update to everyone whose count included this conversation."""
    conversation = _conversation(tenant_id, conversation_id)
    if conversation is None:
        return 0
    users = _users_with_devices(tenant_id)
    if conversation.assigned_to is not None:
        users = users.where(User.id == conversation.assigned_to)
    user_ids = list(db.session.scalars(users))
    for user_id, badge in badges_for(tenant_id, user_ids).items():
        notification = push.Notification(kind="badge", badge=badge, conversation_id=conversation_id)
        _deliver(tenant_id, user_id, notification, ("badge", conversation_id, None))
    return len(user_ids)


def send_test(email: str, *, tenant_id: int | None = None) -> list[tuple[Device, push.PushResult]]:
    """A test alert to each device of the user with `email` (in `tenant_id`), with each device's result.

    No retries: the operator sees each answer as it came. An unknown email, or one in several
    accounts without `tenant_id`, raises NotFound / ValidationFailed.
    """
    query = sa.select(User).where(User.email == email.strip().lower())
    if tenant_id is not None:
        query = query.where(User.tenant_id == tenant_id)
    users = list(db.session.scalars(query.limit(2)))
    if not users:
        raise NotFound("No such user.", code="user_not_found")
    if len(users) > 1:
        raise ValidationFailed("That email is in several accounts; add --tenant.", fields={"tenant_id": ["Required."]})
    user = users[0]
    notification = build_notification(user.tenant_id, user.id, "test", None, None)
    return _send_to_devices(user.tenant_id, _devices(user.tenant_id, user.id, None), notification)


def build_notification(
    tenant_id: int, user_id: int, kind: str, conversation_id: int | None, message_id: int | None
) -> push.Notification | None:
    """The notification as it should read now (a retry shows the current badge), or None if it is moot."""
    badge = badges_for(tenant_id, [user_id])[user_id]
    if kind == "test":
        return push.Notification(kind="test", badge=badge, title="Test notification", body="Push works on this device.")
    conversation = _conversation(tenant_id, conversation_id)
    if conversation is None:
        return None
    if kind == "badge":
        return push.Notification(kind="badge", badge=badge, conversation_id=conversation.id)
    if _muted(user_id, conversation.id):
        return None
    if kind == "assigned":
        if conversation.assigned_to != user_id or not _preference(user_id, "assigned_to_me"):
            return None  # reassigned meanwhile, or they do not want these
        last = db.session.get(Message, conversation.last_message_id) if conversation.last_message_id else None
        body = "Assigned to you" + (f": {preview(last)}" if last is not None else "")
        return push.Notification(
            kind="assigned",
            badge=badge,
            title=title_for(conversation),
            body=body,
            conversation_id=conversation.id,
            channel=conversation.channel,
        )
    message = db.session.scalar(
        sa.select(Message).where(Message.id == message_id, Message.tenant_id == tenant_id, Message.read_at.is_(None))
    )
    return inbound_notification(conversation, message, badge) if message is not None else None


# --- Who is told, and their badge ----------------------------------------------------------------


def inbound_recipients(conversation: Conversation) -> list[int]:
    """Users to tell about a customer's message in `conversation` (only those with a device)."""
    users = _users_with_devices(conversation.tenant_id).where(
        ~sa.exists().where(ConversationMute.user_id == User.id, ConversationMute.conversation_id == conversation.id)
    )
    if conversation.assigned_to is not None:
        users = users.where(User.id == conversation.assigned_to, _wants("inbound_assigned"))
    else:
        users = users.where(_wants("inbound_unassigned"))
    return list(db.session.scalars(users))


def badges_for(tenant_id: int, user_ids: list[int]) -> dict[int, int]:
    """Each user's unread count: unread customer messages in their own conversations and unassigned ones."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        sa.select(Conversation.assigned_to, sa.func.sum(Conversation.unread_count))
        .where(
            Conversation.tenant_id == tenant_id,
            Conversation.unread_count > 0,  # ix_conversations_unread: only conversations with something unread
            Conversation.status != "archived",
            sa.or_(Conversation.assigned_to.is_(None), Conversation.assigned_to.in_(user_ids)),
        )
        .group_by(Conversation.assigned_to)
    ).all()
    by_assignee = dict(rows)
    unassigned = by_assignee.get(None, 0)
    return {user_id: unassigned + by_assignee.get(user_id, 0) for user_id in user_ids}


def _users_with_devices(tenant_id: int):
    return (
        sa.select(User.id)
        .where(User.tenant_id == tenant_id)
        .where(sa.exists().where(Device.user_id == User.id, Device.tenant_id == tenant_id))
        .order_by(User.id)
    )


def _wants(preference: str):
    """No preference row means the default: on."""
    return sa.func.coalesce(
        sa.select(getattr(NotificationPreference, preference))
        .where(NotificationPreference.user_id == User.id)
        .scalar_subquery(),
        sa.true(),
    )


def _preference(user_id: int, name: str) -> bool:
    row = db.session.get(NotificationPreference, user_id)
    return True if row is None else getattr(row, name)


def _muted(user_id: int, conversation_id: int) -> bool:
    return db.session.get(ConversationMute, (user_id, conversation_id)) is not None


# --- Delivery ------------------------------------------------------------------------------------


def _deliver(
    tenant_id: int,
    user_id: int,
    notification: push.Notification,
    spec: tuple,
    device_ids: list[int] | None = None,
    attempt: int = 0,
) -> dict:
    """Send to the user's devices; forget dead tokens; schedule a retry for the ones that can succeed later."""
    results = _send_to_devices(tenant_id, _devices(tenant_id, user_id, device_ids), notification)
    again = [device.id for device, result in results if result.outcome == push.Outcome.RETRY]
    if again and attempt + 1 < current_app.config["PUSH_MAX_ATTEMPTS"]:
        asked = [result.retry_after for _, result in results if result.retry_after is not None]
        countdown = min(asked) if asked else _backoff(attempt, current_app.config)  # 0: retry at once
        kind, conversation_id, message_id = spec
        _enqueue_safely(
            jobs.PUSH_SEND,
            tenant_id,
            user_id,
            kind,
            conversation_id,
            message_id,
            again,
            attempt + 1,
            countdown=countdown or None,
        )
    elif again:
        log.warning("push.gave-up", extra={"tenant_id": tenant_id, "user_id": user_id, "devices": len(again)})
    return {device.id: result.outcome.value for device, result in results}


def _backoff(attempt: int, config) -> float:
    base = config["PUSH_BACKOFF_BASE_SECONDS"] * 2**attempt
    return min(base, config["PUSH_BACKOFF_MAX_SECONDS"]) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter)


def _send_to_devices(
    tenant_id: int, devices: list[Device], notification: push.Notification
) -> list[tuple[Device, push.PushResult]]:
    for device in devices:
        db.session.expunge(device)  # keeps what was loaded: the commit below must not expire (and reload) it
    commit_step()  # end the read transaction: no connection is held while the network is slow
    results = []
    for device in devices:
        backend = push.backend_for(device.platform, current_app.config)
        if backend is None:
            result = push.PushResult(push.Outcome.SKIPPED, reason="not-configured")
        else:
            target = push.Target(token=device.token, environment=device.environment, app_id=device.app_id)
            result = backend.send(target, notification)
        extra = {
            "tenant_id": tenant_id,
            "user_id": device.user_id,
            "device_id": device.id,
            "platform": device.platform,
            "kind": notification.kind,
            "outcome": result.outcome.value,
            "status": result.status,
            "reason": result.reason,
        }
        if result.outcome == push.Outcome.UNREGISTERED:
            forget_device(device.id)
            log.info("push.device-unregistered", extra=extra)
        elif result.outcome == push.Outcome.FAILED:
            log.warning("push.refused", extra=extra)
        else:
            log.info(f"push.{result.outcome.value}", extra=extra)
        results.append((device, result))
    return results


def _devices(tenant_id: int, user_id: int, device_ids: list[int] | None) -> list[Device]:
    query = sa.select(Device).where(Device.tenant_id == tenant_id, Device.user_id == user_id).order_by(Device.id)
    if device_ids is not None:
        query = query.where(Device.id.in_(device_ids))
    return list(db.session.scalars(query))


def _conversation(tenant_id: int, conversation_id: int | None) -> Conversation | None:
    if conversation_id is None:
        return None
    return db.session.scalar(
        sa.select(Conversation).where(Conversation.id == conversation_id, Conversation.tenant_id == tenant_id)
    )


# --- Coalescing markers (Redis; without it, every message is pushed on its own) ------------------


def _markers() -> redis.Redis | None:
    url = current_app.config.get("REDIS_URL")
    return redis_client(url) if url else None


def _burst_key(conversation_id: int) -> str:
    return f"push:burst:{conversation_id}"


def _last_key(conversation_id: int) -> str:
    return f"push:last-pushed:{conversation_id}"
