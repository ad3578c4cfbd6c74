"""A conversation's last message is kept by the database (app/models/last_message_trigger.py):
whatever inserts a message, the newest becomes the conversation's latest activity, and history
older than it (a GHL backfill) does not."""

import threading
import time
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import Conversation
from app.models.base import utcnow
from tests import factories

INSERT_MESSAGE = """
    INSERT INTO messages (tenant_id, conversation_id, sender_type, body, channel, direction, delivery_status,
                          attachments, send_attempts, inserted_at, updated_at)
    VALUES (:tenant, :conversation, 'visitor', :body, 'sms', 'inbound', 'delivered', '[]', 0, :at, :at)
    RETURNING id
"""


def insert_message(tenant_id: int, conversation_id: int, body: str, at, *, on=None) -> int:
    """A message written by plain SQL, as no service of ours writes it (`on`: a connection of its own)."""
    params = {"tenant": tenant_id, "conversation": conversation_id, "body": body, "at": at}
    return (on or db.session).execute(sa.text(INSERT_MESSAGE), params).scalar()


def latest(conversation_id: int):
    return db.session.execute(
        sa.select(Conversation.last_message_id, Conversation.last_message_at, Conversation.updated_at).where(
            Conversation.id == conversation_id
        )
    ).one()


def test_any_message_inserted_becomes_its_conversations_latest_activity(tenant):
    conversation = factories.make_conversation(tenant=tenant, last_message_at=utcnow() - timedelta(days=1))
    at = utcnow()
    message_id = insert_message(tenant.id, conversation.id, "Hello?", at)
    assert latest(conversation.id) == (message_id, at, at)


def test_history_older_than_the_latest_message_leaves_it_in_place(tenant):
    conversation = factories.make_conversation(tenant=tenant)
    now = utcnow()
    newest = insert_message(tenant.id, conversation.id, "Today", now)
    insert_message(tenant.id, conversation.id, "Last week (backfilled)", now - timedelta(days=7))
    assert latest(conversation.id) == (newest, now, now)


def test_of_two_racing_inserts_the_newer_stays_latest_though_the_older_commits_last(committed):
    """Real commits: the older message's trigger waits for the newer one's lock on the conversation,
    then checks the row again, as it is now. (An UPDATE written from what a transaction had read
    would have put the older one back.)"""
    tenant = factories.make_tenant(name="Acme")
    tenant_id, conversation_id = tenant.id, factories.make_conversation(tenant=tenant).id
    now, engine = utcnow(), db.engine
    with engine.connect() as newer:
        newer_id = insert_message(tenant_id, conversation_id, "Newer", now, on=newer)

        def insert_older():
            with engine.begin() as older:  # blocks on the conversation's row until the newer commits
                insert_message(tenant_id, conversation_id, "Older", now - timedelta(seconds=1), on=older)

        thread = threading.Thread(target=insert_older)
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive()  # waiting for the row
        newer.commit()
    thread.join(timeout=10)
    db.session.expire_all()
    assert latest(conversation_id)[0] == newer_id


def test_a_send_answers_with_the_latest_activity_the_database_keeps(api, tenant):
    answer = api.post("/api/v1/conversations/send", json={"phone": "+14155550123", "message": "Hi", "channel": "web"})
    assert answer.status_code == 201, answer.get_json()
    data = answer.get_json()["data"]
    last_message_id, last_message_at, updated_at = latest(data["conversation"]["id"])
    assert data["conversation"]["last_message"]["id"] == data["message"]["id"] == last_message_id
    assert data["conversation"]["last_message_at"] == data["message"]["inserted_at"]
    assert last_message_at == updated_at


def test_on_sqlite_too(sqlite_app):
    tenant = factories.make_tenant(name="Dev")
    conversation = factories.make_conversation(tenant=tenant, last_message_at=utcnow() - timedelta(days=1))
    now = utcnow()
    newest = insert_message(tenant.id, conversation.id, "Today", now)
    insert_message(tenant.id, conversation.id, "Last week", now - timedelta(days=7))
    db.session.commit()
    last_message_id, last_message_at, updated_at = latest(conversation.id)
    assert (last_message_id, last_message_at.replace(tzinfo=None)) == (newest, now.replace(tzinfo=None))
    assert updated_at.replace(tzinfo=None) == now.replace(tzinfo=None)
