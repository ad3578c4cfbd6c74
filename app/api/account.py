from flask import g

from app.api import Blueprint
from app.api.auth import require_bearer_token
from app.schemas.common import envelope
from app.schemas.users import MeSchema, TokenSchema, UserUpdateSchema
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


@blp.get("/auth/tokens")
@blp.response(200, envelope(TokenSchema, many=True))
def list_tokens():
    """Your signed-in devices and scripts (live tokens), most recently used first."""
    rows = accounts.list_tokens(g.user)
    data = [
        {
            "id": row.id,
            "name": row.name,
            "inserted_at": row.inserted_at,
            "last_used_at": row.last_used_at,
            "expires_at": accounts.token_expires_at(row),
            "current": row.id == g.api_token.id,
        }
        for row in rows
    ]
    return {"data": data, "meta": {"total": len(data), "limit": len(data), "offset": 0}}


@blp.delete("/auth/tokens/<id:token_id>")
@blp.response(204)
def revoke_one_token(token_id):
    """Sign one of your devices out (another user's token answers 404)."""
    accounts.revoke_user_token(g.user, token_id)
