"""The staff event stream: the inbox as it changes, for the mobile app and any staff client."""

from flask import current_app, g, request

from app import live
from app.api import Blueprint
from app.api.auth import require_bearer_token
from app.live import notify
from app.live.sse import event_stream, sse_response
from app.services import webchat

blp = Blueprint("events", __name__, description="Live events (Server-Sent Events)")
blp.before_request(require_bearer_token)

EVENTS_DOC = {
    "responses": {
        "200": {
            "description": "A `text/event-stream`. Each event has an `id` (send it back as `Last-Event-ID` "
            "to resume), a type (`message.created`, `message.status`, `conversation.created`, "
            "`conversation.assigned`, `conversation.closed`, `conversation.reopened`, `conversation.read`, "
            "`typing`) and JSON data naming the `conversation_id`. `reconnect` asks the client to reconnect.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
    "parameters": [
        {
            "in": "header",
            "name": "Last-Event-ID",
            "schema": {"type": "string"},
            "description": "Resume after this event.",
        }
    ],
}


@blp.get("/events")
@blp.doc(**EVENTS_DOC)
def events():
    """Everything that changes in your account's inbox, live; resumable with `Last-Event-ID`."""
    config = current_app.config
    stream = event_stream(
        live.get_bus(),
        g.tenant.id,
        request.headers.get("Last-Event-ID") or request.args.get("last_event_id"),
        shape=notify.staff_view,
        heartbeat_seconds=config["LIVE_HEARTBEAT_SECONDS"],
        max_seconds=config["LIVE_STREAM_MAX_SECONDS"],
    )
    return sse_response(stream)


@blp.post("/conversations/<id:conversation_id>/typing")
@blp.response(204)
def typing(conversation_id):
    """Tell the conversation's other side (the web visitor, other staff) that you are typing."""
    webchat.staff_typing(g.tenant, conversation_id, g.user)
