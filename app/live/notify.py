"""What each change looks like on the wire: one function per event, called inside the use case.

Payloads carry what a client needs to update its screen without another request (the message as
the API shows it, with the sender's name), and ids otherwise. Each is built just before the
commit and published after it (app.live.publish_on_commit).
"""

from functools import cache

import sqlalchemy as sa

from app.extensions import db
from app.live import publish, publish_on_commit
from app.models import Conversation, Message, User

MESSAGE_CREATED = "message.created"
MESSAGE_STATUS = "message.status"
CONVERSATION_CREATED = "conversation.created"
CONVERSATION_ASSIGNED = "conversation.assigned"
CONVERSATION_CLOSED = "conversation.closed"
CONVERSATION_REOPENED = "conversation.reopened"
CONVERSATION_READ = "conversation.read"
TYPING = "typing"
# For the web processes only, never shown to a client: a visitor token was replaced, so streams
# opened with the old one end.
VISITOR_TOKEN_ROTATED = "visitor.token-rotated"
INTERNAL = frozenset({VISITOR_TOKEN_ROTATED})


@cache
def _message_schema():
    from app.schemas.conversations import MessageSchema  # schemas -> models -> ...: import when first used

    return MessageSchema()  # one instance: its dump plan is compiled once


def message_payload(message: Message, sender_name: str | None = None) -> dict:
    if sender_name is None and message.sender_id is not None:
        sender_name = sender_names([message.sender_id]).get(message.sender_id)
    return {**_message_schema().dump(message), "sender_name": sender_name}


def sender_names(user_ids) -> dict[int, str]:
    ids = {user_id for user_id in user_ids if user_id is not None}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))).all())


def message_created(message: Message, sender_name: str | None = None) -> None:
    """A message was stored (inbound or outbound, any channel); `sender_name` when the caller has it."""
    publish_on_commit(
        message.tenant_id,
        MESSAGE_CREATED,
        lambda: {
            "conversation_id": message.conversation_id,
            "channel": message.channel,
            "message": message_payload(message, sender_name),
        },
    )


def message_status_changed(tenant_id: int, message_id: int, status: str, conversation_id: int | None = None) -> None:
    """A message's delivery status moved forward; `conversation_id` when the caller has it."""

    def build() -> dict:
        nonlocal conversation_id
        if conversation_id is None:
            conversation_id = db.session.scalar(
                sa.select(Message.conversation_id).where(Message.id == message_id, Message.tenant_id == tenant_id)
            )
        return {"conversation_id": conversation_id, "message_id": message_id, "delivery_status": status}

    publish_on_commit(tenant_id, MESSAGE_STATUS, build)


def conversation_changed(conversation: Conversation, type_: str) -> None:
    """A conversation was created, assigned, closed or reopened."""
    publish_on_commit(
        conversation.tenant_id,
        type_,
        lambda: {
            "conversation_id": conversation.id,
            "channel": conversation.channel,
            "status": conversation.status,
            "assigned_to": conversation.assigned_to,
        },
    )


def conversation_updated(conversation: Conversation, status_before: str, assigned_before: int | None) -> None:
    """An update (PUT): the same events as the dedicated assign/close/reopen calls."""
    if conversation.assigned_to != assigned_before:
        conversation_changed(conversation, CONVERSATION_ASSIGNED)
    if conversation.status != status_before:
        if conversation.status == "closed":
            conversation_changed(conversation, CONVERSATION_CLOSED)
        elif conversation.status == "open":
            conversation_changed(conversation, CONVERSATION_REOPENED)


def conversation_read(conversation: Conversation) -> None:
    """Staff marked messages read: `read_up_to` is the newest inbound message now read."""

    def build() -> dict:
        from app.services.delivery_status import read_up_to  # services import this module: import when built

        return {"conversation_id": conversation.id, "read_up_to": read_up_to(conversation.tenant_id, conversation.id)}

    publish_on_commit(conversation.tenant_id, CONVERSATION_READ, build)


def visitor_token_rotated(conversation: Conversation) -> None:
    publish_on_commit(
        conversation.tenant_id,
        VISITOR_TOKEN_ROTATED,
        lambda: {"conversation_id": conversation.id},
        durable=False,
    )


def staff_view(event) -> dict | None:
    """What a staff stream shows of an event: everything but the web processes' own signals."""
    return None if event.type in INTERNAL else event.data


def typing(tenant_id: int, conversation_id: int, *, by: str, name: str | None = None) -> None:
    """Someone is typing: ephemeral, published at once, never logged or replayed."""
    publish(tenant_id, TYPING, {"conversation_id": conversation_id, "by": by, "name": name}, durable=False)
