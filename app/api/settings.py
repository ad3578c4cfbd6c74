from flask import g

from app.api import Blueprint
from app.api.auth import require_admin, require_bearer_token
from app.schemas.common import envelope
from app.schemas.settings import MessagingSettingsSchema, MessagingSettingsUpdateSchema, VerifyQuery
from app.services import settings

blp = Blueprint("settings", __name__, description="Account settings (admins only)")
blp.before_request(require_bearer_token)
blp.before_request(require_admin)  # after the token check, which sets g.user


@blp.get("/settings/messaging")
@blp.response(200, envelope(MessagingSettingsSchema))
def get_messaging_settings():
    """The messaging provider and its settings. Secrets are never returned, only whether they are set."""
    return {"data": settings.messaging_settings(g.tenant)}


@blp.put("/settings/messaging")
@blp.arguments(VerifyQuery, location="query")
@blp.arguments(MessagingSettingsUpdateSchema)
@blp.response(200, envelope(MessagingSettingsSchema))
def update_messaging_settings(query, changes):
    """Choose the provider (null, twilio, ghl, simulator) and set its credentials; `?verify=true` checks them first."""
    return {"data": settings.update_messaging_settings(g.tenant, changes, verify=query["verify"])}
