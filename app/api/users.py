from flask import g

from app.api import Blueprint
from app.api.auth import require_admin, require_bearer_token
from app.schemas.common import envelope, page
from app.schemas.users import UserSchema, UserUpdateSchema
from app.services import accounts

blp = Blueprint("users", __name__, description="The account's users, for assignment pickers")
blp.before_request(require_bearer_token)


@blp.get("/users")
@blp.response(200, envelope(UserSchema, many=True))
def list_users():
    """Every user of the caller's account."""
    users = accounts.list_users(g.tenant)
    return page(users, len(users), limit=len(users))


@blp.put("/users/<id:user_id>")
@blp.arguments(UserUpdateSchema)
@blp.response(200, envelope(UserSchema))
def update_user(fields, user_id):
    """Set a user's phone (admins only; users set their own with PUT /me)."""
    require_admin()
    return {"data": accounts.set_phone(g.tenant, user_id, fields["phone"])}
