"""PostgreSQL going away (a restart, a failover) just after a send was committed: the message is
stored, so the answer is 201, never a 503 that a client retrying without an Idempotency-Key
would turn into a second text.
"""

from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import jobs
from app.extensions import db
from app.models import Message
from tests import factories

SEND = {"phone": "+15550107777", "message": "Your table is ready", "channel": "sms"}


class ServerGone(Exception):
    """What psycopg raises when PostgreSQL closed the connection."""


@contextmanager
def database_gone_once_a_message_is_committed():
    """Every statement after the commit that stores a message fails, as on a restarting PostgreSQL."""
    state = {"message_inserted": False, "gone": False}

    def after_commit(session):
        state["gone"] |= state["message_inserted"]

    def before_execute(conn, cursor, statement, parameters, context, executemany):
        if state["gone"]:
            raise OperationalError(statement, parameters, ServerGone("server closed the connection unexpectedly"))
        # By whatever statement stores it: the ORM's own INSERT, or the one storing a first message with its contact.
        state["message_inserted"] |= "INSERT INTO messages " in statement

    sa.event.listen(Session, "after_commit", after_commit)
    sa.event.listen(db.engine, "before_cursor_execute", before_execute)
    try:
        yield
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", before_execute)
        sa.event.remove(Session, "after_commit", after_commit)


@pytest.fixture
def texting_api(client, db):
    tenant = factories.make_tenant(name="Acme", sms_provider="simulator")
    staff = factories.make_user(tenant=tenant, role="staff")
    return factories.ApiClient(client, factories.make_token(user=staff)), tenant


def stored(tenant) -> list[Message]:
    db.session.rollback()
    return db.session.scalars(sa.select(Message).where(Message.tenant_id == tenant.id)).all()


def test_a_send_committed_just_before_the_database_went_away_is_answered_201(texting_api, queue):
    api, tenant = texting_api

    with database_gone_once_a_message_is_committed():
        response = api.post("/api/v1/conversations/send", json=SEND)

    assert response.status_code == 201, response.json
    data = response.json["data"]
    assert (data["status"], data["message"]["body"]) == ("pending", "Your table is ready")
    [message] = stored(tenant)
    assert message.id == data["message"]["id"]
    assert queue.named(jobs.SEND_MESSAGE)  # handed to a worker as usual


def test_with_redis_down_too_the_sweeper_still_finds_it(texting_api, queue):
    api, tenant = texting_api
    queue.broker_down = True

    with database_gone_once_a_message_is_committed():
        response = api.post("/api/v1/conversations/send", json=SEND)

    assert response.status_code == 201, response.json
    [message] = stored(tenant)
    # The hand-off failed and so did clearing its mark; the mark ages, and the sweeper re-enqueues it.
    assert message.delivery_status == "pending" and message.enqueued_at is not None
