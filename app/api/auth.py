"""Bearer-token authentication, attached to every authenticated blueprint."""

from flask import g, request

from app.errors import Forbidden, Unauthorized
from app.services import accounts


def require_bearer_token() -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    token_row = accounts.authenticate(token.strip())
    g.api_token = token_row
    g.user = token_row.user
    g.tenant = token_row.user.tenant


def require_admin() -> None:
    if g.user.role != "admin":
        raise Forbidden("Only an admin can do this.")
