"""Who is signed in to /admin (a signed session cookie), and the CSRF token its forms carry.

The cookie is Flask's signed session: HttpOnly, SameSite=Lax, Secure outside development (see
config.py). Every POST must echo the session's CSRF token in a hidden field; SameSite alone does
not cover older browsers or same-site subdomains.
"""

import hmac
import secrets

from flask import abort, g, request, session

from app.errors import DomainError
from app.extensions import db
from app.models import User


def sign_in(user: User) -> None:
    session.clear()  # a fresh session (and CSRF token): no fixation across sign-in
    session.permanent = True
    session["user_id"] = user.id
    session["tenant_id"] = user.tenant_id


def sign_out() -> None:
    session.clear()


def load_user() -> User | None:
    """The signed-in user, if the session names one that still exists (a removed user is signed out)."""
    user_id, tenant_id = session.get("user_id"), session.get("tenant_id")
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        session.clear()
        return None
    g.user, g.tenant = user, user.tenant
    return user


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


class CsrfFailed(DomainError):
    status, code, message = 400, "csrf_failed", "The form expired; reload the page and try again."


def check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected, given = session.get("csrf"), request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected, given):
        abort(400, description=CsrfFailed.message)
