from flask import g
from flask_smorest import Blueprint

from app.schemas.common import envelope
from app.schemas.users import MeSchema
from app.services import accounts

blp = Blueprint("account", __name__, description="The caller's own account and token")


@blp.get("/me")
@blp.response(200, envelope(MeSchema))
def me():
    """The signed-in user and their account."""
    return {"data": g.user}


@blp.delete("/auth/token")
@blp.response(204)
def revoke_token():
    """Revoke the token this request was made with (sign out)."""
    accounts.revoke_token(g.api_token)
