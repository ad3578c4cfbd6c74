"""Web chat: what a website's visitor can do, through the tenant's public widget key.

A visitor starts a conversation and gets a visitor token, the only key to that one conversation.
The token is shown once and stored as its SHA-256 digest (like API tokens); rotating it replaces
the digest, so the old token stops working at once. Visitor messages go through the same inbound
path as an SMS (unread, counted, announced), and their text is stored exactly as typed.
"""

import hmac
import logging
import re
from urllib.parse import urlsplit

import sqlalchemy as sa

from app.errors import NotFound, Unauthorized, ValidationFailed
from app.extensions import db
from app.live import notify
from app.live.bus import END
from app.models import Conversation, Message, Tenant
from app.models.conversation import new_visitor_token, visitor_token_digest
from app.models.tenant import new_widget_key
from app.services.conversations import get_conversation, new_conversation
from app.services.inbound import record_inbound
from app.services.unit_of_work import use_case

log = logging.getLogger(__name__)

PRECHAT_FIELDS = ("name", "email", "phone")
PRECHAT_MODES = ("off", "optional", "required")
DEFAULT_PRECHAT = {"name": "optional", "email": "optional", "phone": "off"}
DEFAULT_COLOR = "#2563eb"
DEFAULT_GREETING = "Hi! How can we help? We usually answer within a few minutes."
HISTORY_PAGE = 100
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


# --- the tenant's widget settings (admins) -------------------------------------------------------


def widget_settings(tenant: Tenant) -> dict:
    return {
        "widget_key": tenant.widget_key,
        "allowed_origins": list(tenant.widget_allowed_origins or []),
        "prechat_fields": {**DEFAULT_PRECHAT, **(tenant.widget_prechat_fields or {})},
        "greeting": tenant.widget_greeting if tenant.widget_greeting is not None else DEFAULT_GREETING,
        "color": tenant.widget_color or DEFAULT_COLOR,
    }


def public_widget_config(tenant: Tenant) -> dict:
    """What the widget needs before a visitor writes: no secrets, nothing about other visitors."""
    settings = widget_settings(tenant)
    return {
        "name": tenant.name,
        "greeting": settings["greeting"],
        "color": settings["color"],
        "prechat_fields": settings["prechat_fields"],
    }


@use_case
def update_widget_settings(tenant: Tenant, changes: dict) -> dict:
    """Change the allowed origins, pre-chat fields, greeting or colour (each checked)."""
    if "allowed_origins" in changes:
        tenant.widget_allowed_origins = [normalize_origin(origin) for origin in changes["allowed_origins"]]
    if "prechat_fields" in changes:
        fields = changes["prechat_fields"]
        bad = {name: ["Unknown field."] for name in fields if name not in PRECHAT_FIELDS}
        bad.update(
            {
                name: [f"One of {', '.join(PRECHAT_MODES)}."]
                for name, mode in fields.items()
                if mode not in PRECHAT_MODES
            }
        )
        if bad:
            raise ValidationFailed(fields={"prechat_fields": bad})
        tenant.widget_prechat_fields = {**DEFAULT_PRECHAT, **fields}
    if "greeting" in changes:
        tenant.widget_greeting = (changes["greeting"] or "").strip()[:500]
    if "color" in changes:
        if not COLOR.match(changes["color"] or ""):
            raise ValidationFailed(fields={"color": ["A colour like #2563eb."]})
        tenant.widget_color = changes["color"].lower()
    log.info("settings.widget-updated", extra={"tenant_id": tenant.id, "fields": sorted(changes)})
    return widget_settings(tenant)


@use_case
def rotate_widget_key(tenant: Tenant) -> str:
    """A new public key: the old snippet stops working (its visitors' tokens still name their conversations)."""
    tenant.widget_key = new_widget_key()
    log.info("settings.widget-key-rotated", extra={"tenant_id": tenant.id})
    return tenant.widget_key


def normalize_origin(origin: str) -> str:
    """`https://Shop.example:443/page` -> `https://shop.example`; anything that is not an http(s) origin is refused."""
    parts = urlsplit((origin or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(fields={"allowed_origins": [f"Not an origin like https://shop.example: {origin!r}"]})
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def origin_allowed(tenant: Tenant, origin: str) -> bool:
    try:
        return normalize_origin(origin) in (tenant.widget_allowed_origins or [])
    except ValidationFailed:
        return False


# --- the visitor's side ----------------------------------------------------------------------------


def tenant_for_widget_key(widget_key: str) -> Tenant:
    tenant = db.session.scalar(sa.select(Tenant).where(Tenant.widget_key == widget_key))
    if tenant is None:
        raise NotFound("No chat is set up with this key.", code="widget_not_found")
    return tenant


@use_case
def start_conversation(tenant: Tenant, *, name=None, email=None, phone=None) -> tuple[Conversation, str]:
    """Start a web conversation for a new visitor. Returns it and the visitor token (shown only now)."""
    given = {"name": name, "email": email, "phone": phone}
    prechat = widget_settings(tenant)["prechat_fields"]
    missing = {field: ["Required."] for field, mode in prechat.items() if mode == "required" and not given[field]}
    if missing:
        raise ValidationFailed("Please fill in the required fields.", fields=missing)
    token = new_visitor_token()
    conversation = new_conversation(
        tenant,
        channel="web",
        contact=None,
        visitor_name=_kept(name, prechat["name"]),
        visitor_email=_kept(email, prechat["email"]),
        visitor_phone=_kept(phone, prechat["phone"]),
        visitor_token=visitor_token_digest(token),
    )
    db.session.flush()  # its id, for the log line and the answer
    notify.conversation_changed(conversation, notify.CONVERSATION_CREATED)
    log.info("webchat.conversation-started", extra={"tenant_id": tenant.id, "conversation_id": conversation.id})
    return conversation, token


def _kept(value, mode: str):
    return value if mode != "off" and value else None


def visitor_conversation(tenant: Tenant, conversation_id: int, token: str | None) -> Conversation:
    """The conversation this visitor token opens, or 404 (another visitor's, another tenant's, or none)."""
    if not token:
        raise Unauthorized("A visitor token is required.", code="visitor_token_required")
    digest = visitor_token_digest(token)
    conversation = db.session.scalar(
        sa.select(Conversation).where(
            Conversation.id == conversation_id,
            Conversation.tenant_id == tenant.id,
            Conversation.channel == "web",
            Conversation.visitor_token == digest,
        )
    )
    if conversation is None or not hmac.compare_digest(conversation.visitor_token, digest):
        raise NotFound("Conversation not found.")
    return conversation


def send_visitor_message(tenant: Tenant, conversation_id: int, token: str | None, body: str) -> dict:
    """Store what the visitor wrote, through the inbound path (unread for staff, announced live)."""
    conversation = visitor_conversation(tenant, conversation_id, token)
    _, message = record_inbound(tenant, conversation=conversation, channel="web", body=body)
    return visitor_view(message, None)


def visitor_messages(tenant: Tenant, conversation_id: int, token: str | None, *, after: int | None = None) -> dict:
    """The visitor's history: the latest page, or what came after message `after` (the polling cursor).

    `read_up_to` is the newest of the visitor's messages staff have read (for "Read" ticks).
    """
    conversation = visitor_conversation(tenant, conversation_id, token)
    query = sa.select(Message).where(Message.tenant_id == tenant.id, Message.conversation_id == conversation.id)
    if after is not None:
        rows = db.session.scalars(query.where(Message.id > after).order_by(Message.id).limit(HISTORY_PAGE)).all()
    else:
        rows = list(reversed(db.session.scalars(query.order_by(Message.id.desc()).limit(HISTORY_PAGE)).all()))
    names = notify.sender_names(message.sender_id for message in rows)
    read_up_to = db.session.scalar(
        sa.select(sa.func.max(Message.id)).where(
            Message.tenant_id == tenant.id,
            Message.conversation_id == conversation.id,
            Message.direction == "inbound",
            Message.read_at.is_not(None),
        )
    )
    return {
        "messages": [visitor_view(message, names.get(message.sender_id)) for message in rows],
        "read_up_to": read_up_to,
        "status": conversation.status,
    }


def visitor_view(message: Message | dict, sender_name: str | None) -> dict:
    """A message as its visitor sees it: no internal ids, no provider details."""
    get = message.get if isinstance(message, dict) else lambda key: getattr(message, key)
    from app.schemas.common import UtcDateTime

    inserted_at = get("inserted_at")
    if not isinstance(inserted_at, str):
        inserted_at = UtcDateTime()._serialize(inserted_at, None, None)
    return {
        "id": get("id"),
        "body": get("body"),
        "direction": get("direction"),
        "sender_type": get("sender_type"),
        "sender_name": sender_name if get("sender_type") == "staff" else None,
        "delivery_status": get("delivery_status"),
        "inserted_at": inserted_at,
    }


@use_case
def rotate_visitor_token(tenant: Tenant, conversation_id: int, token: str | None) -> str:
    """A new token for the visitor's conversation; the old one stops working at once."""
    conversation = visitor_conversation(tenant, conversation_id, token)
    token = new_visitor_token()
    conversation.visitor_token = visitor_token_digest(token)
    notify.visitor_token_rotated(conversation)  # streams opened with the old token end
    log.info("webchat.token-rotated", extra={"tenant_id": conversation.tenant_id, "conversation_id": conversation.id})
    return token


def visitor_typing(tenant: Tenant, conversation_id: int, token: str | None) -> None:
    conversation = visitor_conversation(tenant, conversation_id, token)
    notify.typing(conversation.tenant_id, conversation.id, by="visitor", name=conversation.visitor_name)


def staff_typing(tenant: Tenant, conversation_id: int, user) -> None:
    conversation = get_conversation(tenant, conversation_id)
    notify.typing(tenant.id, conversation.id, by="staff", name=user.name)


def visitor_event_shape(conversation_id: int):
    """Which tenant events a visitor's stream carries, shaped as the visitor sees them."""

    def shape(event):
        data = event.data
        if data.get("conversation_id") != conversation_id:
            return None
        if event.type == notify.VISITOR_TOKEN_ROTATED:
            return END
        if event.type == notify.MESSAGE_CREATED:
            message = data["message"]
            return visitor_view(message, message.get("sender_name"))
        if event.type == notify.TYPING and data.get("by") == "staff":
            return {"by": "staff", "name": data.get("name")}
        if event.type == notify.CONVERSATION_READ:
            return {"read_up_to": data.get("read_up_to")}
        if event.type in (notify.CONVERSATION_CLOSED, notify.CONVERSATION_REOPENED):
            return {"status": data.get("status")}
        return None

    return shape
