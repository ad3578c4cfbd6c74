"""A tenant's team, as its admins manage it from /admin: invite staff, change roles, remove people."""

import logging
import secrets

import sqlalchemy as sa

from app.errors import Conflict
from app.extensions import db
from app.models import User
from app.models.user import ROLES
from app.services.accounts import create_user, get_user
from app.services.unit_of_work import use_case

log = logging.getLogger(__name__)


def invite(tenant, *, email: str, name: str, role: str = "staff") -> tuple[User, str]:
    """Add a user with a one-time password for the admin to pass on (there is no email sending yet)."""
    password = secrets.token_urlsafe(12)
    user = create_user(tenant, email=email, name=name.strip(), role=role, password=password)
    log.info("team.user-invited", extra={"tenant_id": tenant.id, "user_id": user.id, "role": role})
    return user, password


@use_case
def set_role(tenant, user_id: int, role: str) -> User:
    """Make a user admin or staff; the account always keeps at least one admin."""
    if role not in ROLES:
        raise Conflict("Unknown role.", code="unknown_role")
    user = get_user(tenant, user_id)
    if user.role == "admin" and role != "admin" and _admin_count(tenant) <= 1:
        raise Conflict("The account needs at least one admin.", code="last_admin")
    user.role = role
    log.info("team.role-changed", extra={"tenant_id": tenant.id, "user_id": user.id, "role": role})
    return user


@use_case
def remove(tenant, user_id: int, *, acting_user: User) -> None:
    """Remove a user (their tokens go with them; their messages and assignments stay, unattributed)."""
    user = get_user(tenant, user_id)
    if user.id == acting_user.id:
        raise Conflict("You cannot remove yourself.", code="cannot_remove_self")
    if user.role == "admin" and _admin_count(tenant) <= 1:
        raise Conflict("The account needs at least one admin.", code="last_admin")
    db.session.delete(user)
    log.info("team.user-removed", extra={"tenant_id": tenant.id, "user_id": user_id})


def _admin_count(tenant) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(User).where(User.tenant_id == tenant.id, User.role == "admin")
    )
