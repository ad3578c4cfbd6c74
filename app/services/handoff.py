"""How a sweeper hands due messages to their tasks: marked first (so the next sweep leaves them), then
committed, then enqueued by id, since a task must find the committed row."""

import sqlalchemy as sa

from app.celery import enqueue
from app.extensions import db
from app.models import Message
from app.services.unit_of_work import commit_step


def hand_off(rows: list, task_name: str, **mark) -> int:
    """Set `mark` on each (tenant_id, message_id) row, commit, and enqueue `task_name` for each."""
    if rows:
        db.session.execute(
            sa.update(Message).where(Message.id.in_([message_id for _, message_id in rows])).values(**mark)
        )
    commit_step()
    for tenant_id, message_id in rows:
        enqueue(task_name, tenant_id, message_id)
    return len(rows)
