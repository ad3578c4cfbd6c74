"""Workers and requests racing each other, on committed rows: one claim wins, one key stores one message."""

import random
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import celery as app_celery
from app import jobs
from app.extensions import db
from app.models import Message
from app.providers.base import DELIVERED, READ, SENT
from app.services import delivery, messages
from app.services.delivery_status import apply_status_update
from app.services.retries import RetryLater
from tests import factories
from tests.pipeline.fakes import accepted, network_down
from tests.pipeline.helpers import backdate
from tests.webhooks.test_races import rendezvous_after

RACERS = 8


@pytest.fixture
def account(committed):
    """A texting tenant with a staff member, their token and a contact in an open sms conversation (all committed)."""
    tenant = factories.make_tenant(name="Acme", sms_provider="simulator")
    staff = factories.make_user(tenant=tenant, role="staff")
    contact = factories.make_contact(tenant=tenant, phone="+15551234567")
    conversation = factories.make_conversation(tenant=tenant, contact=contact)
    return tenant, staff, factories.make_token(user=staff), contact, conversation


@pytest.fixture
def pending(account, queue):
    tenant, staff, _, _, conversation = account
    message = messages.send_message(tenant, conversation.id, staff, messages.Draft(body="Your table is ready")).message
    return tenant.id, message.id


def race(app, count: int, action) -> list:
    """Run `action(i)` in `count` threads, each with its own app context and session, released at once."""
    start = threading.Barrier(count)
    results, errors = [None] * count, []

    def run(i):
        with app.app_context():
            try:
                start.wait()
                results[i] = action(i)
            except Exception as exc:  # reported below, with the others
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return results


def status_of(message_id: int) -> str:
    with db.engine.connect() as connection:  # a fresh connection sees only what was committed
        return connection.scalar(sa.select(Message.delivery_status).where(Message.id == message_id))


class TestSendTasksSharingABurst:
    def test_eight_tasks_draining_one_tenant_send_each_message_exactly_once(self, committed, account, provider, queue):
        tenant, staff, _, _, conversation = account
        bodies = [f"burst {n}" for n in range(40)]
        ids = [
            messages.send_message(tenant, conversation.id, staff, messages.Draft(body=body)).message.id
            for body in bodies
        ]

        outcomes = race(committed, RACERS, lambda i: delivery.send_due_messages(tenant.id, None))

        assert sum(outcome.get("sent", 0) for outcome in outcomes) == 40
        assert sorted(sent.body for sent in provider.sent) == sorted(bodies)  # each once, none twice
        assert {status_of(message_id) for message_id in ids} == {SENT}


class TestWorkersRacingForOneMessage:
    def test_of_eight_workers_delivered_the_same_task_exactly_one_sends_it(self, committed, pending, provider):
        tenant_id, message_id = pending

        outcomes = race(committed, RACERS, lambda i: delivery.send_pending_message(tenant_id, message_id))

        assert sorted(outcomes) == ["sent"] + ["skipped"] * (RACERS - 1)
        assert provider.sends == 1
        assert status_of(message_id) == SENT

    def test_a_copy_that_arrives_while_the_first_is_talking_to_the_provider_is_skipped(
        self, committed, pending, provider, monkeypatch
    ):
        tenant_id, message_id = pending
        in_send, finish = threading.Event(), threading.Event()

        def slow_send(outbound):
            provider.sent.append(outbound)
            in_send.set()
            finish.wait(10)
            return accepted()

        monkeypatch.setattr(provider, "send", slow_send)
        first = []
        worker = threading.Thread(target=lambda: first.append(run_in(committed, tenant_id, message_id)))
        worker.start()
        assert in_send.wait(10)

        second = run_in(committed, tenant_id, message_id)
        finish.set()
        worker.join(10)

        assert (first, second) == (["sent"], "skipped")
        assert provider.sends == 1

    def test_racing_copies_of_a_retried_task_send_once_per_attempt(self, committed, pending, provider):
        tenant_id, message_id = pending
        provider.will(network_down())

        def attempt(i):
            try:
                return delivery.send_pending_message(tenant_id, message_id)
            except RetryLater:
                return "retry"

        first_round = race(committed, RACERS, attempt)
        backdate(db.session.get(Message, message_id), next_attempt_at=timedelta(seconds=1))  # the backoff is over
        second_round = race(committed, RACERS, attempt)

        assert sorted(first_round) == ["retry"] + ["skipped"] * (RACERS - 1)
        assert sorted(second_round) == ["sent"] + ["skipped"] * (RACERS - 1)
        assert provider.sends == 2


def run_in(app, tenant_id, message_id):
    with app.app_context():
        try:
            return delivery.send_pending_message(tenant_id, message_id)
        finally:
            db.session.remove()


class TestRequestsRacingWithOneIdempotencyKey:
    @pytest.fixture(params=["conversation endpoint", "send endpoint"])
    def send_request(self, request, account):
        _, _, token, contact, conversation = account
        if request.param == "conversation endpoint":
            return f"/api/v1/conversations/{conversation.id}/messages", {"message": "Your table is ready"}
        return "/api/v1/conversations/send", {"phone": "+15559870000", "message": "Your table is ready"}

    def test_they_all_answer_with_one_message_and_only_it_is_sent(self, committed, account, send_request, queue):
        tenant, _, token, _, _ = account
        url, body = send_request
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "order-42"}

        responses = race(committed, RACERS, lambda i: committed.test_client().post(url, json=body, headers=headers))

        assert [response.status_code for response in responses] == [201] * RACERS, [r.json for r in responses]
        assert len({response.json["data"]["message"]["id"] for response in responses}) == 1
        assert sum(response.headers.get("Idempotent-Replayed") == "true" for response in responses) == RACERS - 1
        stored = db.session.scalars(sa.select(Message.id).where(Message.tenant_id == tenant.id)).all()
        assert stored == [responses[0].json["data"]["message"]["id"]]
        assert queue.names() == [jobs.SEND_MESSAGE]

    def test_the_task_is_enqueued_only_once_the_message_is_committed(
        self, committed, account, send_request, monkeypatch
    ):
        _, _, token, _, _ = account
        url, body = send_request
        seen = []

        def enqueue(name, tenant_id, message_id, countdown=None):
            seen.append(status_of(message_id))  # what a worker would find, on its own connection
            return True

        app_celery.enqueue_instead(enqueue)

        response = committed.test_client().post(url, json=body, headers={"Authorization": f"Bearer {token}"})

        assert response.status_code == 201
        assert seen == ["pending"]


class TestSendsToOneNewNumberRacing:
    def test_they_make_one_contact_and_one_conversation_holding_every_message(
        self, committed, account, queue, monkeypatch
    ):
        tenant, _, token, _, _ = account
        # Each request looks the number up, finds nothing, and waits for the others before storing: all
        # but one then find the number taken by the one statement storing contact, conversation and message.
        rendezvous_after(monkeypatch, messages, "find_contact_by_phone", racers=4)
        headers = {"Authorization": f"Bearer {token}"}

        responses = race(
            committed,
            4,
            lambda i: committed.test_client().post(
                "/api/v1/conversations/send", json={"phone": "+15559870000", "message": f"#{i}"}, headers=headers
            ),
        )

        assert [response.status_code for response in responses] == [201] * 4, [r.json for r in responses]
        answers = [response.json["data"] for response in responses]
        (conversation_id,) = {answer["conversation"]["id"] for answer in answers}
        assert len({answer["conversation"]["contact"]["id"] for answer in answers}) == 1
        stored = db.session.execute(
            sa.select(Message.id, Message.conversation_id, Message.body).where(Message.tenant_id == tenant.id)
        ).all()
        assert sorted(body for _, _, body in stored) == ["#0", "#1", "#2", "#3"]
        assert {conversation for _, conversation, _ in stored} == {conversation_id}
        assert sorted(answer["message"]["id"] for answer in answers) == sorted(message for message, _, _ in stored)


class TestStatusReportsRacing:
    def test_reports_arriving_together_in_any_order_end_at_the_furthest(self, committed, account):
        tenant, _, _, _, conversation = account
        for _ in range(5):
            message = factories.make_message(conversation=conversation, direction="outbound", delivery_status="pending")
            reports = [SENT, DELIVERED, READ, SENT, DELIVERED, READ]
            random.shuffle(reports)

            race(committed, len(reports), lambda i, m=message.id, r=reports: apply_status_update(tenant.id, m, r[i]))

            assert status_of(message.id) == READ
