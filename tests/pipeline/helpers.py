"""Small helpers the pipeline tests share: looking at or ageing stored messages."""

from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import Message
from app.models.base import utcnow


def reload(message: Message) -> Message:
    """The message as the database has it now."""
    db.session.expire_all()
    return db.session.get(Message, message.id)


def backdate(message: Message, **ages: timedelta) -> None:
    """Move some of a message's timestamps into the past: backdate(m, inserted_at=timedelta(minutes=5))."""
    now = utcnow()
    db.session.execute(
        sa.update(Message).where(Message.id == message.id).values({column: now - age for column, age in ages.items()})
    )
    db.session.commit()


def backoff_over(message: Message) -> None:
    """Let the time a retrying message waits pass, as the Celery retry's countdown would."""
    backdate(message, next_attempt_at=timedelta(seconds=1))
