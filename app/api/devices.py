"""Push notifications: the caller's devices, what they want to be told, and muted conversations."""

from flask import g

from app.api import Blueprint
from app.api.auth import require_bearer_token
from app.schemas.common import envelope
from app.schemas.devices import (
    DeviceCreateSchema,
    DeviceSchema,
    MuteSchema,
    NotificationPreferencesSchema,
    NotificationPreferencesUpdateSchema,
)
from app.services import devices

blp = Blueprint("notifications", __name__, description="Push notifications: devices and preferences")
blp.before_request(require_bearer_token)


@blp.post("/devices")
@blp.arguments(DeviceCreateSchema)
@blp.response(201, envelope(DeviceSchema))
def register_device(fields):
    """Register this phone's push token for the caller. The same token again updates it (and moves it to
    the caller if another user had it); signing out with this bearer token unregisters it."""
    return {"data": devices.register_device(g.user, g.api_token, **fields)}


@blp.get("/devices")
@blp.response(200, envelope(DeviceSchema, many=True))
def list_devices():
    """The caller's own registered devices."""
    rows = devices.list_devices(g.user)
    return {"data": rows, "meta": {"total": len(rows), "limit": len(rows), "offset": 0}}


@blp.delete("/devices/<string:token>")
@blp.response(204)
def unregister_device(token):
    """Stop pushes to one of the caller's devices (404 for a token the caller does not own)."""
    devices.unregister_device(g.user, token)


@blp.get("/me/notifications")
@blp.response(200, envelope(NotificationPreferencesSchema))
def get_preferences():
    """Which pushes the caller gets (all on by default), and the conversations they muted."""
    return {"data": devices.preferences_of(g.user)}


@blp.put("/me/notifications")
@blp.arguments(NotificationPreferencesUpdateSchema)
@blp.response(200, envelope(NotificationPreferencesSchema))
def update_preferences(fields):
    """Turn kinds of pushes on or off; fields left out keep their value."""
    return {"data": devices.update_preferences(g.user, **fields)}


@blp.put("/conversations/<id:conversation_id>/mute")
@blp.response(200, envelope(MuteSchema))
def mute(conversation_id):
    """No alerts about this conversation for the caller (its messages still count in the badge)."""
    return {"data": devices.set_muted(g.user, conversation_id, True)}


@blp.delete("/conversations/<id:conversation_id>/mute")
@blp.response(200, envelope(MuteSchema))
def unmute(conversation_id):
    """Alerts about this conversation again."""
    return {"data": devices.set_muted(g.user, conversation_id, False)}
