from flask import g

from app.api import Blueprint
from app.api.auth import require_bearer_token
from app.schemas.common import envelope, page
from app.schemas.users import UserSchema
from app.services import accounts

blp = Blueprint("users", __name__, description="The account's users, for assignment pickers")
blp.before_request(require_bearer_token)


@blp.get("/users")
@blp.response(200, envelope(UserSchema, many=True))
def list_users():
    """Every user of the caller's account."""
    users = accounts.list_users(g.tenant)
    return page(users, len(users), limit=len(users))
