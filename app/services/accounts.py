"""Tenants, users and API tokens: who is calling, and on behalf of which tenant."""

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta
from functools import cache

import sqlalchemy as sa
from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from app.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from app.extensions import db
from app.models import ApiToken, Tenant, User
from app.models.base import aware, utcnow
from app.models.user import ROLES
from app.services.devices import unregister_devices_of
from app.services.queries import get_owned
from app.services.unit_of_work import use_case

log = logging.getLogger(__name__)

TOKEN_PREFIX = "cv_"
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)  # last_used_at is written at most this often


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@use_case
def create_tenant(name: str) -> Tenant:
    tenant = Tenant(name=name.strip())
    db.session.add(tenant)
    db.session.flush()
    return tenant


def get_tenant(tenant_id: int) -> Tenant:
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("Tenant not found.")
    return tenant


@use_case
def create_user(tenant: Tenant, *, email: str, name: str, role: str = "staff", password: str | None = None) -> User:
    if role not in ROLES:
        raise ValidationFailed(fields={"role": [f"Must be one of: {', '.join(ROLES)}."]})
    email = email.strip().lower()
    exists = db.session.scalar(sa.select(User.id).where(User.tenant_id == tenant.id, User.email == email))
    if exists:
        raise Conflict("A user with this email already exists in this account.", code="user_exists")
    user = User(tenant_id=tenant.id, email=email, name=name, role=role)
    if password:
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def get_user(tenant: Tenant, user_id: int) -> User:
    return get_owned(User, tenant.id, user_id, what="User")


def list_users(tenant: Tenant) -> list[User]:
    return list(db.session.scalars(sa.select(User).where(User.tenant_id == tenant.id).order_by(User.name, User.id)))


@use_case
def set_phone(tenant: Tenant, user_id: int, phone: str | None) -> User:
    """Set a user's own phone (click-to-call rings it first); None clears it."""
    user = get_user(tenant, user_id)
    user.phone = phone
    return user


@use_case
def issue_token(user: User, name: str = "api") -> str:
    """Create a token for `user` and return it. Only its hash is kept: this is the one chance to see it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(tenant_id=user.tenant_id, user_id=user.id, token_hash=hash_token(token), name=name))
    return token


@use_case
def login(email: str, password: str, *, tenant_id: int | None = None, token_name: str = "mobile") -> tuple[str, User]:
    """Exchange email and password for a new token. The same answer for an unknown email and a wrong password."""
    user = check_credentials(email, password, tenant_id=tenant_id)
    return issue_token(user, token_name), user


def check_credentials(email: str, password: str, *, tenant_id: int | None = None) -> User:
    """The user these credentials name (the API's token sign-in and /admin's session sign-in share it)."""
    query = sa.select(User).where(User.email == email.strip().lower())
    if tenant_id is not None:
        query = query.where(User.tenant_id == tenant_id)
    candidates = list(db.session.scalars(query))
    matches = [user for user in candidates if user.check_password(password)]
    if not candidates:
        _spend_a_password_check(password)
    if len(matches) != 1:
        log.info("auth.login-failed")
        if len(matches) > 1:
            raise ValidationFailed(
                "This email belongs to more than one account; add tenant_id.", fields={"tenant_id": ["Required."]}
            )
        raise Unauthorized("Email or password is wrong.", code="invalid_credentials")
    return matches[0]


def token_idle_limit() -> timedelta:
    return timedelta(days=current_app.config["TOKEN_IDLE_DAYS"])


def token_expires_at(row: ApiToken) -> datetime:
    """A token unused for TOKEN_IDLE_DAYS stops working (a lost phone's token does not live forever)."""
    return aware(row.last_used_at or row.inserted_at) + token_idle_limit()


# Built once: every authenticated request runs it, and building it cost more CPU than its SQL.
_TOKEN_BY_HASH = sa.select(ApiToken).where(ApiToken.token_hash == sa.bindparam("digest"))


def authenticate(token: str) -> ApiToken:
    """Return the live token row for a bearer token, or raise Unauthorized."""
    if not token.startswith(TOKEN_PREFIX):
        raise Unauthorized()
    digest = hash_token(token)
    row = db.session.scalar(_TOKEN_BY_HASH, {"digest": digest})
    # The lookup is by hash; compare again in constant time so timing says nothing of near-misses.
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized()
    now = utcnow()
    if token_expires_at(row) <= now:
        log.info("auth.token-expired", extra={"tenant_id": row.tenant_id, "token_id": row.id})
        raise Unauthorized("This token expired after going unused; sign in again.", code="token_expired")
    last = row.last_used_at
    if last is None or now - aware(last) > TOKEN_TOUCH_INTERVAL:
        _touch(row, now)
    return row


@use_case
def _touch(row: ApiToken, now) -> None:
    row.last_used_at = now


@use_case
def revoke_token(token_row: ApiToken) -> None:
    """Sign out: the token stops working, and the phones registered with it stop getting pushes."""
    token_row.revoked_at = utcnow()
    unregister_devices_of(token_row)


def list_tokens(user: User) -> list[ApiToken]:
    """The user's own live tokens (signed-in devices), most recently used first."""
    cutoff = utcnow() - token_idle_limit()
    rows = db.session.scalars(
        sa.select(ApiToken)
        .where(
            ApiToken.tenant_id == user.tenant_id,
            ApiToken.user_id == user.id,
            ApiToken.revoked_at.is_(None),
            sa.func.coalesce(ApiToken.last_used_at, ApiToken.inserted_at) > cutoff,
        )
        .order_by(sa.func.coalesce(ApiToken.last_used_at, ApiToken.inserted_at).desc(), ApiToken.id.desc())
    )
    return list(rows)


def revoke_user_token(user: User, token_id: int) -> None:
    """Sign one of the user's own devices out. Anyone else's token (or an unknown id) is a 404."""
    row = db.session.scalar(
        sa.select(ApiToken).where(
            ApiToken.id == token_id,
            ApiToken.tenant_id == user.tenant_id,
            ApiToken.user_id == user.id,
            ApiToken.revoked_at.is_(None),
        )
    )
    if row is None:
        raise NotFound("Token not found.")
    revoke_token(row)


@cache
def _dummy_password_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def _spend_a_password_check(password: str) -> None:
    # An unknown email costs as long as a wrong password, so timing does not reveal accounts.
    check_password_hash(_dummy_password_hash(), password)
