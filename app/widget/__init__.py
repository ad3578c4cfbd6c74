"""The web chat widget: its public visitor API (/widget/v1), the script (/widget.js) and the demo page.

Every visitor call names the tenant by its public widget key in the path (so a CORS preflight,
which carries no body and no token, can already be answered for that tenant) and, past starting a
conversation, carries the visitor token as `Authorization: Bearer`.
"""

import hashlib
from pathlib import Path

import marshmallow as ma
from flask import Blueprint, Flask, abort, current_app, g, render_template, request, send_file, url_for

from app import live
from app.demo import demo_widget_key
from app.errors import ValidationFailed
from app.extensions import limiter
from app.live.sse import event_stream, sse_response
from app.schemas.webchat import MessagesQuery, StartSchema, VisitorMessageSchema
from app.services import webchat
from app.widget.cors import add_cors_headers, refuse_foreign_origin

STATIC = Path(__file__).parent / "static"

api = Blueprint("widget_api", __name__, url_prefix="/widget/v1/<widget_key>")
pages = Blueprint("widget_pages", __name__, template_folder="templates")


def _visitor_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def by_visitor_token() -> str:
    """Rate-limit key: the visitor token's digest (never the token itself), else the address."""
    token = _visitor_token()
    return (
        "visitor:" + hashlib.sha256(token.encode()).hexdigest()[:32] if token else "addr:" + (request.remote_addr or "")
    )


def _load(schema: ma.Schema, data):
    try:
        return schema.load(data if data is not None else {})
    except ma.ValidationError as exc:
        raise ValidationFailed(
            fields=exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        ) from exc


@api.url_value_preprocessor
def find_tenant(endpoint, values):
    g.widget_tenant = webchat.tenant_for_widget_key(values.pop("widget_key"))


@api.before_request
def check_request():
    refuse_foreign_origin(g.widget_tenant)
    limit = current_app.config["WIDGET_MAX_BODY_BYTES"]
    request.max_content_length = limit  # also bounds a chunked body, which declares no length
    if request.content_length and request.content_length > limit:
        abort(413)


api.after_request(add_cors_headers)
# Every widget call counts against the client address; some routes add a limit of their own
# (override_defaults=False: in addition to the address limit, not instead of it).
limiter.limit(lambda: current_app.config["WIDGET_ADDRESS_RATE_LIMIT"])(api)


def per_visitor_token(setting: str):
    return limiter.limit(lambda: current_app.config[setting], key_func=by_visitor_token, override_defaults=False)


def per_client_address(setting: str):
    return limiter.limit(lambda: current_app.config[setting], override_defaults=False)


@api.get("/config")
def widget_config():
    """The tenant's greeting, colour and pre-chat fields."""
    return {"data": webchat.public_widget_config(g.widget_tenant)}


@api.post("/conversations")
@per_client_address("WIDGET_START_RATE_LIMIT")
def start_conversation():
    """Start a conversation; the answer's `visitor_token` is shown only here."""
    fields = _load(StartSchema(), request.get_json(silent=True))
    conversation, token = webchat.start_conversation(g.widget_tenant, **fields)
    return {"data": {"conversation": _conversation_view(conversation), "visitor_token": token}}, 201


@api.get("/conversations/<id:conversation_id>")
def get_conversation(conversation_id):
    conversation = webchat.visitor_conversation(g.widget_tenant, conversation_id, _visitor_token())
    return {"data": _conversation_view(conversation)}


@api.get("/conversations/<id:conversation_id>/messages")
def list_messages(conversation_id):
    """The latest messages, or those after `?after=<message id>` (the polling cursor)."""
    query = _load(MessagesQuery(), request.args.to_dict())
    messages = webchat.visitor_messages(g.widget_tenant, conversation_id, _visitor_token(), after=query.get("after"))
    return {"data": messages}


@api.post("/conversations/<id:conversation_id>/messages")
@per_visitor_token("WIDGET_MESSAGE_RATE_LIMIT")
def send_message(conversation_id):
    fields = _load(VisitorMessageSchema(), request.get_json(silent=True))
    message = webchat.send_visitor_message(g.widget_tenant, conversation_id, _visitor_token(), fields["message"])
    return {"data": message}, 201


@api.post("/conversations/<id:conversation_id>/typing")
@per_visitor_token("WIDGET_TYPING_RATE_LIMIT")
def typing(conversation_id):
    webchat.visitor_typing(g.widget_tenant, conversation_id, _visitor_token())
    return "", 204


@api.post("/conversations/<id:conversation_id>/token")
@per_visitor_token("WIDGET_START_RATE_LIMIT")
def rotate_token(conversation_id):
    """A new visitor token for this conversation; the old one stops working at once."""
    return {"data": {"visitor_token": webchat.rotate_visitor_token(g.widget_tenant, conversation_id, _visitor_token())}}


@api.get("/conversations/<id:conversation_id>/events")
def events(conversation_id):
    """Server-Sent Events for this conversation: staff replies, typing, read receipts."""
    conversation = webchat.visitor_conversation(g.widget_tenant, conversation_id, _visitor_token())
    config = current_app.config
    stream = event_stream(
        live.get_bus(),
        conversation.tenant_id,
        request.headers.get("Last-Event-ID") or request.args.get("last_event_id"),
        shape=webchat.visitor_event_shape(conversation.id),
        heartbeat_seconds=config["LIVE_HEARTBEAT_SECONDS"],
        max_seconds=config["LIVE_STREAM_MAX_SECONDS"],
    )
    return sse_response(stream)


def _conversation_view(conversation) -> dict:
    return {
        "id": conversation.id,
        "status": conversation.status,
        "visitor_name": conversation.visitor_name,
        "visitor_email": conversation.visitor_email,
        "visitor_phone": conversation.visitor_phone,
    }


@pages.get("/widget.js")
def widget_script():
    """The embeddable script: `<script src="https://HOST/widget.js" data-key="wk_..."></script>`."""
    response = send_file(STATIC / "widget.js", mimetype="text/javascript", max_age=300)
    response.headers["Access-Control-Allow-Origin"] = "*"  # a public script, loaded from any site
    return response


@pages.get("/widget/demo")
def demo():
    """A sample website with the demo account's widget on it (development only)."""
    if not current_app.config["WIDGET_DEMO"]:
        abort(404)
    widget_key = request.args.get("key") or demo_widget_key()
    if widget_key is None:
        abort(404)
    return render_template("widget/demo.html", widget_key=widget_key, script_url=url_for("widget_pages.widget_script"))


def register_widget(app: Flask) -> None:
    app.register_blueprint(api)
    app.register_blueprint(pages)
