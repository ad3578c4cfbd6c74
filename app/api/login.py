from flask import current_app, request

from app.api import Blueprint
from app.extensions import limiter
from app.schemas.common import envelope, now
from app.schemas.users import LoginResultSchema, LoginSchema
from app.services import accounts

blp = Blueprint("auth", __name__, description="Sign in")


def _account_key() -> str:
    """The throttle's key for the account being tried: the email as given, whether or not it exists."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return "login-account:" + (email.strip().lower() if isinstance(email, str) else "")


@blp.post("/login")
@blp.arguments(LoginSchema)
@blp.response(201, envelope(LoginResultSchema))
@blp.doc(security=[])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
# Per account too, so rotating addresses does not give unlimited guesses at one password. Only
# failures count (a user signing in on several devices is not slowed), and an unknown email is
# counted exactly like a known one: the 429 says nothing about whether the account exists.
@limiter.limit(
    lambda: current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"],
    key_func=_account_key,
    deduct_when=lambda response: response.status_code == 401,
)
def login_view(credentials):
    """Exchange email and password for a bearer token (throttled per client address and per account)."""
    token, user = accounts.login(
        credentials["email"],
        credentials["password"],
        tenant_id=credentials.get("tenant_id"),
        token_name=credentials["token_name"],
    )
    return {"data": {"token": token, "user": user, "inserted_at": now()}}
