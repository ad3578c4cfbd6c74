from flask import g

from app.api import Blueprint
from app.api.auth import require_bearer_token
from app.schemas.common import envelope
from app.schemas.users import MeSchema, UserUpdateSchema
from app.services import accounts

blp = Blueprint("account", __name__, description="The caller's own account and token")
blp.before_request(require_bearer_token)


@blp.get("/me")
@blp.response(200, envelope(MeSchema))
def me():
    """The signed-in user and their account."""
    return {"data": g.user}


@blp.put("/me")
@blp.arguments(UserUpdateSchema)
@blp.response(200, envelope(MeSchema))
def update_me(fields):
    """Set your own phone number (click-to-call rings it, then the customer)."""
    return {"data": accounts.set_phone(g.tenant, g.user.id, fields["phone"])}


@blp.delete("/auth/token")
@blp.response(204)
def revoke_token():
    """Revoke the token this request was made with (sign out)."""
    accounts.revoke_token(g.api_token)
