from flask import g
from flask_smorest import Blueprint

from app.schemas.common import envelope
from app.schemas.users import UserSchema
from app.services import accounts

blp = Blueprint("users", __name__, description="The account's users, for assignment pickers")


@blp.get("/users")
@blp.response(200, envelope(UserSchema, many=True))
def list_users():
    """Every user of the caller's account."""
    users = accounts.list_users(g.tenant)
    return {"data": users, "meta": {"total": len(users), "limit": len(users), "offset": 0}}
