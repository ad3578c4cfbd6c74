from flask import current_app

from app.api import Blueprint
from app.extensions import limiter
from app.schemas.common import envelope, now
from app.schemas.users import LoginResultSchema, LoginSchema
from app.services import accounts

blp = Blueprint("auth", __name__, description="Sign in")


@blp.post("/login")
@blp.arguments(LoginSchema)
@blp.response(201, envelope(LoginResultSchema))
@blp.doc(security=[])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
def login_view(credentials):
    """Exchange email and password for a bearer token (throttled per client address)."""
    token, user = accounts.login(
        credentials["email"],
        credentials["password"],
        tenant_id=credentials.get("tenant_id"),
        token_name=credentials["token_name"],
    )
    return {"data": {"token": token, "user": user, "inserted_at": now()}}
