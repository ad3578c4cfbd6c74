"""What one send costs in SQL: a guard on the statement counts issue 14 brought down.

Reads and writes are counted (the test's own savepoints, which stand in for commits here, are not).
A send used to reload what it had just written after its commit, and the worker read its rows
one query at a time; these counts fail if that comes back.
"""

import pytest
from psycopg import _queries as psycopg_queries

from app.providers.base import DELIVERED, SENT, StatusReport
from app.services import delivery
from tests.api.test_query_count import counting_statements
from tests.pipeline.fakes import accepted
from tests.pipeline.helpers import reload

DATA = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


def reads_and_writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith(DATA)]


@pytest.fixture
def warm_api(api):
    api.get("/api/v1/me")  # the token's first use writes last_used_at; keep that out of the counts
    return api


class TestTheApiSide:
    def test_a_send_into_a_conversation_reads_the_token_and_conversation_and_writes_once(
        self, warm_api, conversation, queue
    ):
        url = f"/api/v1/conversations/{conversation.id}/messages"
        with counting_statements() as statements:
            response = warm_api.post(url, json={"message": "Hi"})

        assert response.status_code == 201
        data = response.json["data"]
        assert data["conversation"]["last_message"]["id"] == data["message"]["id"]
        assert data["conversation"]["unread_count"] == 0
        assert data["message"]["delivery_status"] == "pending"
        # The token (with its user and tenant), the conversation (locked), the message (whose insert
        # makes it the conversation's latest: app/models/last_message_trigger.py).
        assert len(reads_and_writes(statements)) <= 3, "\n\n".join(statements)

    def test_a_send_to_a_new_number_creates_contact_and_conversation_without_reading_them_back(
        self, warm_api, tenant, queue
    ):
        with counting_statements() as statements:
            response = warm_api.post(
                "/api/v1/conversations/send", json={"channel": "sms", "phone": "+15557654321", "message": "Hello"}
            )

        assert response.status_code == 201
        data = response.json["data"]
        assert data["conversation"]["contact"]["phone"] == "+15557654321"
        assert data["conversation"]["last_message"]["id"] == data["message"]["id"]
        assert data["conversation"]["unread_count"] == 0
        # The token, the number looked up once, then the contact, conversation and message inserted by
        # one statement (a new contact has no conversation to look for).
        assert len(reads_and_writes(statements)) <= 3, "\n\n".join(statements)


def test_no_statement_of_a_send_and_its_delivery_is_converted_for_the_server_anew(
    warm_api, tenant, provider, queue, monkeypatch
):
    """psycopg caches how it rewrites a statement's placeholders only for statements within its
    limits; the send's one statement for contact, conversation and message is past the defaults."""
    uncached = []
    convert = psycopg_queries._query2pg_nocache
    monkeypatch.setattr(
        psycopg_queries, "_query2pg_nocache", lambda query, *a: uncached.append(query) or convert(query, *a)
    )
    provider.will(accepted(SENT))

    response = warm_api.post(
        "/api/v1/conversations/send", json={"channel": "sms", "phone": "+15557654321", "message": "Hello"}
    )
    assert delivery.send_pending_message(tenant.id, response.json["data"]["message"]["id"]) == "sent"

    assert uncached == []


class TestTheWorkerSide:
    def test_a_delivery_claims_and_reads_in_one_statement_and_records_the_receipt_in_one_update(
        self, compose, provider, queue
    ):
        message = compose()
        provider.will(accepted(SENT))
        ids = message.tenant_id, message.id

        with counting_statements() as statements:
            assert delivery.send_pending_message(*ids) == "sent"

        stored = reload(message)
        assert (stored.delivery_status, stored.provider_message_id) == ("sent", provider.receipts[0].ids.message)
        assert stored.claimed_at is not None and stored.sent_at is not None
        assert stored.send_attempts == 1
        assert len(reads_and_writes(statements)) <= 2, "\n\n".join(statements)

    def test_a_status_check_reads_once_and_updates_once(self, compose, provider, queue):
        message = compose()
        ids = message.tenant_id, message.id
        delivery.send_pending_message(*ids)
        provider.reports.append(StatusReport(DELIVERED))

        with counting_statements() as statements:
            delivery.check_status(*ids)

        assert reload(message).delivery_status == DELIVERED
        assert len(reads_and_writes(statements)) <= 2, "\n\n".join(statements)

    def test_a_send_tasks_batch_of_status_checks_reads_once_then_updates_each(self, compose, provider, queue):
        messages = [compose(f"message {n}") for n in range(4)]
        for message in messages:
            delivery.send_pending_message(message.tenant_id, message.id)
        provider.reports.extend(StatusReport(DELIVERED) for _ in messages)
        tenant_id, ids = messages[0].tenant_id, [message.id for message in messages]

        with counting_statements() as statements:
            delivery.check_statuses(tenant_id, ids)

        assert [reload(message).delivery_status for message in messages] == [DELIVERED] * 4
        # One read for the batch (with the tenant), one UPDATE per message: not a read per message.
        assert len(reads_and_writes(statements)) <= 1 + len(messages), "\n\n".join(statements)
