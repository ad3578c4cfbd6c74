"""The forward-only delivery-status rule, in one place, for callbacks, polling and the simulator.

pending -> sent -> delivered -> read, or -> failed, which is final. Provider callbacks arrive late,
twice and out of order: an update that would move a status backwards changes nothing.
"""

import logging
from functools import cache

import sqlalchemy as sa

from app.extensions import db
from app.live import notify
from app.models import Message
from app.models.base import utcnow
from app.providers.base import DELIVERED, FAILED, PENDING, READ, SENT, DeliveryReport
from app.services.unit_of_work import use_case

log = logging.getLogger(__name__)

_PROGRESS = {PENDING: 0, SENT: 1, DELIVERED: 2, READ: 3}
STATUSES = (PENDING, SENT, DELIVERED, READ, FAILED)


def advances(current: str, new: str) -> bool:
    """Whether a message at `current` may move to `new`."""
    if current == FAILED or new == PENDING:
        return False
    if new == FAILED:
        # A failure report after delivered/read is stale (or about another attempt): keep the better news.
        return current in (PENDING, SENT)
    return _PROGRESS[new] > _PROGRESS[current]


def predecessors(new: str) -> tuple[str, ...]:
    """Every status from which `new` is a step forward."""
    return tuple(status for status in STATUSES if advances(status, new))


@use_case
def apply_status_update(
    tenant_id: int,
    message_id: int,
    new_status: str,
    *,
    error_code: str | None = None,
    error_message: str | None = None,
    also: dict | None = None,
) -> bool:
    """Move one message to `new_status` if that is forward. Returns whether it moved.

    The rule is enforced in the UPDATE's WHERE clause, so two updates racing for the same row
    cannot both win and neither can undo the other. `also`: more columns for the same UPDATE
    (written only when the status moves).
    """
    now = utcnow()
    values = {**(also or {}), "delivery_status": new_status, "updated_at": now}
    if new_status == FAILED:
        values.update(error_code=error_code, error_message=error_message)
    if new_status == SENT:
        values["sent_at"] = now
    params = {"match_id": message_id, "match_tenant": tenant_id, **{f"set_{name}": v for name, v in values.items()}}
    db.session.flush()  # what the caller changed first, as the ORM's own UPDATE would (this one is not the ORM's)
    conversation_id = db.session.execute(_status_update(new_status, tuple(values)), params).scalar()
    moved = conversation_id is not None
    if moved:  # live streams, on commit (app/live)
        notify.message_status_changed(tenant_id, message_id, new_status, conversation_id)
    log.info(
        "message.status-update",
        extra={"tenant_id": tenant_id, "message_id": message_id, "status": new_status, "applied": moved},
    )
    return moved


@cache
def _status_update(new_status: str, columns: tuple[str, ...]):
    """The UPDATE moving a message to `new_status` and setting `columns`, built once per kind: building
    it anew for each message cost more CPU than running it. Of the table, not the ORM class: the ORM
    copies an UPDATE of its class at each execution (its cache key then computed anew) and the
    session holds no message it would have to tell; and the statuses it moves from are fixed
    parameters, not an IN list expanded at each execution."""
    messages = Message.__table__
    return (
        sa.update(messages)
        .where(
            messages.c.id == sa.bindparam("match_id"),
            messages.c.tenant_id == sa.bindparam("match_tenant"),
            # false() with none: nothing moves back to pending.
            sa.or_(sa.false(), *(messages.c.delivery_status == status for status in predecessors(new_status))),
        )
        .values({name: sa.bindparam(f"set_{name}", type_=messages.c[name].type) for name in columns})
        .returning(messages.c.conversation_id)
    )


def read_up_to(tenant_id: int, conversation_id: int) -> int | None:
    """The newest inbound message staff have read in a conversation (the visitor's "Read" ticks)."""
    return db.session.scalar(
        sa.select(sa.func.max(Message.id)).where(
            Message.tenant_id == tenant_id,
            Message.conversation_id == conversation_id,
            Message.direction == "inbound",
            Message.read_at.is_not(None),
        )
    )


def mark_inbound_read(tenant_id: int, conversation_id: int, *, up_to_message_id: int | None = None) -> int:
    """Staff read a conversation: its unread inbound messages get read_at and, where that is forward, `read`.

    Returns how many were marked.
    """
    now = utcnow()
    query = (
        sa.update(Message)
        .where(
            Message.tenant_id == tenant_id,
            Message.conversation_id == conversation_id,
            Message.direction == "inbound",
            Message.read_at.is_(None),
        )
        .values(
            read_at=now,
            delivery_status=sa.case(
                (Message.delivery_status.in_(predecessors(READ)), READ), else_=Message.delivery_status
            ),
            updated_at=now,
        )
    )
    if up_to_message_id is not None:
        query = query.where(Message.id <= up_to_message_id)
    return db.session.execute(query.execution_options(synchronize_session=False)).rowcount


class StatusBeforeSend(Exception):
    """A delivery report for a message whose provider id we have not stored yet.

    Providers can report faster than our worker records the id their send answered with. Raising
    marks the stored event failed, so the webhook retry task processes it again a minute later.
    """


@use_case
def apply_delivery_report(tenant_id: int, delivery: DeliveryReport) -> Message | None:
    """A provider told us (callback, poll or webhook) where a message it carries stands.

    Returns the message when the report moved it forward; raises StatusBeforeSend for a message
    we have not recorded yet. A report about an inbound message changes nothing.
    """
    message = find_by_provider_id(tenant_id, delivery.provider_message_id) or _adopt_unanswered_send(
        tenant_id, delivery
    )
    if message is None:
        raise StatusBeforeSend(f"No message with provider id {delivery.provider_message_id} yet.")
    report = delivery.report
    if message.direction != "outbound" or report.status is None:
        return None
    moved = apply_status_update(
        tenant_id, message.id, report.status, error_code=report.error_code, error_message=report.error_message
    )
    return message if moved else None


def _adopt_unanswered_send(tenant_id: int, delivery: DeliveryReport) -> Message | None:
    """A report naming our message by its reference, about a send whose answer we never got (or have
    not recorded yet): the provider took it, under this id. Only a claimed send without an id qualifies."""
    if not (delivery.reference or "").isdigit():
        return None
    adopted = db.session.execute(
        sa.update(Message)
        .where(
            Message.id == int(delivery.reference),
            Message.tenant_id == tenant_id,
            Message.direction == "outbound",
            Message.delivery_status == PENDING,
            Message.claimed_at.is_not(None),
            Message.provider_message_id.is_(None),
        )
        .values(provider_message_id=delivery.provider_message_id, error_code=None, error_message=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    return db.session.get(Message, int(delivery.reference)) if adopted else None


def find_by_provider_id(tenant_id: int, provider_message_id: str | None) -> Message | None:
    """The tenant's message a provider names (our send's receipt id, or the id it gave a message it reported)."""
    if not provider_message_id:
        return None
    return db.session.scalar(
        sa.select(Message)
        .where(
            Message.tenant_id == tenant_id,
            # GHL messages reported by webhook before this id was kept in one column carry it only here.
            sa.or_(Message.provider_message_id == provider_message_id, Message.ghl_message_id == provider_message_id),
        )
        .limit(1)
    )
