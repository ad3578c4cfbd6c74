from flask import g

from app.api import Blueprint
from app.api.auth import require_bearer_token
from app.schemas.common import envelope, page
from app.schemas.conversations import (
    AssignSchema,
    ConversationCreateSchema,
    ConversationDetailSchema,
    ConversationListQuery,
    ConversationSchema,
    ConversationsMetaSchema,
    ConversationUpdateSchema,
    IdempotencyHeaders,
    MessageCreateSchema,
    MessageSchema,
    MessagesMetaSchema,
    MessagesQuery,
    ReadResultSchema,
    ReadSchema,
    SendResultSchema,
    SendSchema,
    UnreadSchema,
)
from app.services import conversations, messages, uploads

blp = Blueprint("conversations", __name__, description="The unified inbox: every channel, one model")
blp.before_request(require_bearer_token)


def _draft(fields: dict, headers: dict) -> messages.Draft:
    # Uploads travel as their public URLs of ours (stable per upload, so an Idempotency-Key replay matches).
    media_urls = (*fields["media_urls"], *uploads.public_urls(g.tenant, fields["upload_ids"]))
    return messages.Draft(
        body=fields["message"],
        media_urls=media_urls,
        upload_ids=tuple(fields["upload_ids"]),
        idempotency_key=headers["idempotency_key"],
    )


def _sent(sent: messages.Sent):
    """The seed's send response; a replayed Idempotency-Key answers the same, marked by a header."""
    body = {
        "data": {"conversation": sent.conversation, "message": sent.message, "status": sent.message.delivery_status}
    }
    return body, {"Idempotent-Replayed": "true"} if sent.replayed else {}


@blp.get("/conversations")
@blp.arguments(ConversationListQuery, location="query")
@blp.response(200, envelope(ConversationSchema, many=True, meta=ConversationsMetaSchema))
def list_conversations(query):
    """Conversations, newest activity first, each with its contact, last message and unread count."""
    found = conversations.list_conversations(g.tenant, **query)
    return page(found.rows, found.total, limit=query["limit"], offset=query["offset"], next_before=found.next_before)


@blp.post("/conversations")
@blp.arguments(ConversationCreateSchema)
@blp.response(201, envelope(ConversationSchema))
def create_conversation(fields):
    """Start a conversation with a contact (by `contact_id` or `phone`) or a web visitor."""
    return {"data": conversations.create_conversation(g.tenant, **fields)}


@blp.get("/conversations/unread")
@blp.response(200, envelope(UnreadSchema))
def unread():
    """Unread inbound messages for the badges: total, per channel, and conversations with any."""
    return {"data": conversations.unread_counts(g.tenant)}


@blp.post("/conversations/send")
@blp.arguments(SendSchema)
@blp.arguments(IdempotencyHeaders, location="headers")
@blp.response(201, envelope(SendResultSchema))
def send(fields, headers):
    """Send to a contact or a phone number; finds or starts the open conversation on that channel."""
    sent = messages.send_to_contact(
        g.tenant,
        g.user,
        _draft(fields, headers),
        channel=fields["channel"],
        contact_id=fields.get("contact_id"),
        phone=fields.get("phone"),
    )
    return _sent(sent)


@blp.get("/conversations/<id:conversation_id>")
@blp.response(200, envelope(ConversationDetailSchema))
def get_conversation(conversation_id):
    """A conversation with its most recent messages."""
    conversation = conversations.get_conversation(g.tenant, conversation_id)
    conversation.messages = conversations.recent_messages(conversation)
    return {"data": conversation}


@blp.put("/conversations/<id:conversation_id>")
@blp.arguments(ConversationUpdateSchema)
@blp.response(200, envelope(ConversationSchema))
def update_conversation(fields, conversation_id):
    """Change status, assignee, visitor details or metadata."""
    return {"data": conversations.update_conversation(g.tenant, conversation_id, actor_id=g.user.id, **fields)}


@blp.post("/conversations/<id:conversation_id>/assign")
@blp.arguments(AssignSchema, required=False)
@blp.response(200, envelope(ConversationSchema))
def assign(fields, conversation_id):
    """Assign to yourself (empty body; 409 `already_assigned` if someone else has it), to `user_id`,
    or unassign (`user_id: null`)."""
    if "user_id" in fields:
        return {"data": conversations.assign(g.tenant, conversation_id, fields["user_id"], actor_id=g.user.id)}
    return {
        "data": conversations.assign(
            g.tenant, conversation_id, g.user.id, only_if_free_for=g.user.id, actor_id=g.user.id
        )
    }


@blp.post("/conversations/<id:conversation_id>/close")
@blp.response(200, envelope(ConversationSchema))
def close(conversation_id):
    """Close: out of the open inbox; the customer writing again (or staff sending) reopens it."""
    return {"data": conversations.close(g.tenant, conversation_id)}


@blp.post("/conversations/<id:conversation_id>/reopen")
@blp.response(200, envelope(ConversationSchema))
def reopen(conversation_id):
    """Reopen a closed or archived conversation (409 if the contact already has an open one on this channel)."""
    return {"data": conversations.reopen(g.tenant, conversation_id)}


@blp.get("/conversations/<id:conversation_id>/messages")
@blp.arguments(MessagesQuery, location="query")
@blp.response(200, envelope(MessageSchema, many=True, meta=MessagesMetaSchema))
def list_messages(query, conversation_id):
    """Messages, oldest first within a page; pages go back in time with `offset` or the `before` cursor."""
    rows, total, next_before = messages.list_messages(g.tenant, conversation_id, **query)
    return page(rows, total, limit=query["limit"], offset=query["offset"], next_before=next_before)


@blp.post("/conversations/<id:conversation_id>/messages")
@blp.arguments(MessageCreateSchema)
@blp.arguments(IdempotencyHeaders, location="headers")
@blp.response(201, envelope(SendResultSchema))
def send_message(fields, headers, conversation_id):
    """Send a message in this conversation (reopens it if closed)."""
    return _sent(messages.send_message(g.tenant, conversation_id, g.user, _draft(fields, headers)))


@blp.post("/conversations/<id:conversation_id>/read")
@blp.arguments(ReadSchema, required=False)
@blp.response(200, envelope(ReadResultSchema))
def mark_read(fields, conversation_id):
    """Mark the conversation's inbound messages read."""
    conversation, marked = conversations.mark_read(
        g.tenant, conversation_id, up_to_message_id=(fields or {}).get("up_to_message_id")
    )
    return {
        "data": {"conversation_id": conversation.id, "marked_read": marked, "unread_count": conversation.unread_count}
    }
