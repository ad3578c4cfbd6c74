"""The inbox costs the same number of SQL statements whatever the page size (no N+1), and few."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models.base import utcnow
from tests import factories


@contextmanager
def counting_statements():
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def busy_inbox(tenant, staff):
    """Sixty conversations, each with a contact, an assignee, a reply and two unread messages."""
    start = utcnow() - timedelta(days=1)
    for i in range(60):
        contact = factories.make_contact(tenant=tenant, first_name=f"Person {i}", phone=f"+1555100{i:04d}")
        conversation = factories.make_conversation(
            tenant=tenant, contact=contact, assigned_to=staff.id, last_message_at=start + timedelta(minutes=i)
        )
        factories.make_message(conversation=conversation, direction="outbound", body=f"Hello {i}")
        factories.make_message(conversation=conversation, body=f"Reply {i}")
        factories.make_message(conversation=conversation, body=f"Also {i}")


def test_listing_five_or_fifty_conversations_issues_the_same_statements(api, busy_inbox):
    api.get("/api/v1/me")  # the token's first use writes last_used_at; keep that out of the count
    db.session.expire_all()

    with counting_statements() as small:
        five = api.get("/api/v1/conversations?limit=5")
    db.session.expire_all()
    with counting_statements() as large:
        fifty = api.get("/api/v1/conversations?limit=50")

    assert len(five.json["data"]) == 5
    assert len(fifty.json["data"]) == 50
    assert all(row["unread_count"] == 2 for row in fifty.json["data"])
    assert all(row["contact"]["first_name"].startswith("Person") for row in fifty.json["data"])
    assert all(row["last_message"]["body"].startswith("Also") for row in fifty.json["data"])
    assert len(small) == len(large), "\n\n".join(large)
    # The token, then the page: its ids, their rows and the total in one statement.
    assert len(large) == 2, "\n\n".join(large)


def test_a_page_of_a_thread_is_the_token_and_one_statement(api, busy_inbox):
    api.get("/api/v1/me")  # the token's first use writes last_used_at; keep that out of the count
    conversation_id = api.get("/api/v1/conversations?limit=1").json["data"][0]["id"]
    db.session.expire_all()

    with counting_statements() as statements:
        thread = api.get(f"/api/v1/conversations/{conversation_id}/messages")

    assert [message["body"][:5] for message in thread.json["data"]] == ["Hello", "Reply", "Also "]
    # No separate look-up of the conversation: its messages, scoped to the tenant, show it is theirs.
    assert len(statements) == 2, "\n\n".join(statements)
