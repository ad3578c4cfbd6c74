"""The forward-only delivery-status rule, in one place, for callbacks, polling and the simulator.

pending -> sent -> delivered -> read, or -> failed, which is final. Provider callbacks arrive late,
twice and out of order: an update that would move a status backwards changes nothing.
"""

import logging

import sqlalchemy as sa

from app.extensions import db
from app.live import notify
from app.models import Message
from app.models.base import utcnow
from app.providers.base import DELIVERED, FAILED, PENDING, READ, SENT

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


def apply_status_update(
    tenant_id: int,
    message_id: int,
    new_status: str,
    *,
    error_code: str | None = None,
    error_message: str | None = None,
    commit: bool = True,
) -> bool:
    """Move one message to `new_status` if that is forward. Returns whether it moved.

    The rule is enforced in the UPDATE's WHERE clause, so two updates racing for the same row
    cannot both win and neither can undo the other.
    """
    now = utcnow()
    values = {"delivery_status": new_status, "updated_at": now}
    if new_status == FAILED:
        values.update(error_code=error_code, error_message=error_message)
    if new_status == SENT:
        values["sent_at"] = now
    result = db.session.execute(
        sa.update(Message)
        .where(
            Message.id == message_id,
            Message.tenant_id == tenant_id,
            Message.delivery_status.in_(predecessors(new_status)),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        notify.message_status_changed(tenant_id, message_id, new_status)  # announced on commit (app/live)
    if commit:
        db.session.commit()
    moved = result.rowcount == 1
    log.info(
        "message.status-update",
        extra={"tenant_id": tenant_id, "message_id": message_id, "status": new_status, "applied": moved},
    )
    return moved


def record_provider_status(
    tenant_id: int,
    provider_message_id: str,
    new_status: str,
    *,
    error_code: str | None = None,
    error_message: str | None = None,
) -> bool:
    """A provider told us (callback, poll or simulator) where its message stands."""
    message_id = db.session.scalar(
        sa.select(Message.id).where(Message.tenant_id == tenant_id, Message.provider_message_id == provider_message_id)
    )
    if message_id is None:
        log.warning("message.status-for-unknown-message", extra={"tenant_id": tenant_id})
        return False
    return apply_status_update(tenant_id, message_id, new_status, error_code=error_code, error_message=error_message)
