"""Devices that receive pushes, and each user's notification preferences and muted conversations."""

import logging

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from app.errors import NotFound
from app.extensions import db
from app.models import ApiToken, Conversation, ConversationMute, Device, NotificationPreference, User
from app.models.base import utcnow
from app.services.queries import get_owned, on_postgresql
from app.services.unit_of_work import use_case

log = logging.getLogger(__name__)

PREFERENCES = ("inbound_assigned", "inbound_unassigned", "assigned_to_me")


@use_case
def register_device(
    user: User,
    api_token: ApiToken | None,
    *,
    token: str,
    platform: str,
    environment: str | None = None,
    app_id: str | None = None,
) -> Device:
    """Register (or re-register) a push token for `user`.

    The same token again updates its row and moves it to the caller, whichever account had it: a
    phone that changed hands must stop receiving its previous owner's notifications. One statement
    (INSERT ... ON CONFLICT), so two registrations racing cannot duplicate the token.
    """
    values = {
        "tenant_id": user.tenant_id,
        "user_id": user.id,
        "api_token_id": api_token.id if api_token is not None else None,
        "platform": platform,
        "environment": environment if platform == "ios" else None,
        "app_id": app_id,
        "updated_at": utcnow(),
    }
    previous_owner = db.session.scalar(sa.select(Device.user_id).where(Device.token == token))
    if on_postgresql():
        statement = pg_insert(Device).values(token=token, inserted_at=utcnow(), **values)
        db.session.execute(statement.on_conflict_do_update(index_elements=[Device.token], set_=values))
    else:  # SQLite (development): no concurrent writers to race
        device = db.session.scalar(sa.select(Device).where(Device.token == token))
        if device is None:
            db.session.add(Device(token=token, inserted_at=utcnow(), **values))
        else:
            for key, value in values.items():
                setattr(device, key, value)
    if previous_owner is not None and previous_owner != user.id:
        log.info("push.device-moved", extra={"tenant_id": user.tenant_id, "user_id": user.id})
    return db.session.scalar(sa.select(Device).where(Device.token == token).execution_options(populate_existing=True))


def list_devices(user: User) -> list[Device]:
    return list(
        db.session.scalars(
            sa.select(Device)
            .where(Device.tenant_id == user.tenant_id, Device.user_id == user.id)
            .order_by(Device.inserted_at, Device.id)
        )
    )


@use_case
def unregister_device(user: User, token: str) -> None:
    """Forget one of the caller's own devices. Someone else's token answers 404, like a missing one."""
    deleted = db.session.execute(
        sa.delete(Device).where(Device.token == token, Device.tenant_id == user.tenant_id, Device.user_id == user.id)
    ).rowcount
    if not deleted:
        raise NotFound("Device not found.", code="device_not_found")


def unregister_devices_of(api_token: ApiToken) -> int:
    """Signing out: the devices registered with this token stop receiving pushes. Does not commit."""
    return db.session.execute(
        sa.delete(Device).where(Device.tenant_id == api_token.tenant_id, Device.api_token_id == api_token.id)
    ).rowcount


@use_case
def forget_device(device_id: int) -> None:
    """APNs or FCM said the token is dead (app uninstalled, bad token)."""
    db.session.execute(sa.delete(Device).where(Device.id == device_id))


def preferences_of(user: User) -> dict:
    """The user's choices (all on unless changed) and the conversations they muted."""
    row = db.session.get(NotificationPreference, user.id)
    prefs = {name: getattr(row, name) if row is not None else True for name in PREFERENCES}
    prefs["muted_conversation_ids"] = list(
        db.session.scalars(
            sa.select(ConversationMute.conversation_id)
            .where(ConversationMute.tenant_id == user.tenant_id, ConversationMute.user_id == user.id)
            .order_by(ConversationMute.conversation_id)
        )
    )
    return prefs


@use_case
def update_preferences(user: User, **changes) -> dict:
    row = db.session.get(NotificationPreference, user.id, with_for_update=True)
    if row is None:
        row = NotificationPreference(user_id=user.id, tenant_id=user.tenant_id, **dict.fromkeys(PREFERENCES, True))
        db.session.add(row)
    for name in PREFERENCES:
        if name in changes:
            setattr(row, name, changes[name])
    db.session.flush()
    return preferences_of(user)


@use_case
def set_muted(user: User, conversation_id: int, muted: bool) -> dict:
    """Mute (or unmute) one conversation for the caller: no alerts about it. Idempotent."""
    conversation = get_owned(Conversation, user.tenant_id, conversation_id, what="Conversation")
    mute = sa.and_(ConversationMute.user_id == user.id, ConversationMute.conversation_id == conversation.id)
    if not muted:
        db.session.execute(sa.delete(ConversationMute).where(mute))
    elif db.session.scalar(sa.select(ConversationMute.user_id).where(mute)) is None:
        try:
            with db.session.begin_nested():
                db.session.add(
                    ConversationMute(user_id=user.id, conversation_id=conversation.id, tenant_id=user.tenant_id)
                )
        except IntegrityError:  # the same mute, racing in from a second tap: already done
            pass
    return {"conversation_id": conversation.id, "muted": muted}
