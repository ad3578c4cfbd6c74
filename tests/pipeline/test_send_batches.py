"""A send task takes its tenant's due messages one after another (issue 14): a burst of sends costs
a few tasks instead of one per message, and each message keeps its own claim and rate-limit slot."""

from datetime import timedelta

import pytest

from app import jobs
from app.extensions import db
from app.models.base import utcnow
from app.providers.base import SENT, RateBudget, StatusReport
from app.services import delivery
from tests import factories
from tests.pipeline.fakes import accepted, network_down
from tests.pipeline.helpers import reload
from tests.queue import Job


def statuses(*messages) -> list[str]:
    return [reload(message).delivery_status for message in messages]


@pytest.fixture
def burst(compose, queue):
    """Messages staff sent at once; the API queued a task for each (the recording queue does not
    de-duplicate: that needs Redis, tests/pipeline/test_worker.py), here forgotten."""

    def burst(count: int):
        sent = [compose(f"message {n}") for n in range(count)]
        queue.clear()
        return sent

    return burst


class TestOneTaskTakesTheTenantsDueMessages:
    def test_the_message_it_was_queued_for_then_the_others_each_sent_once(self, tenant, provider, burst, queue):
        first, *others = burst(4)

        outcome = delivery.send_due_messages(tenant.id, first.id)

        assert outcome == {"sent": 4}
        assert statuses(first, *others) == ["sent"] * 4
        assert [sent.body for sent in provider.sent] == [f"message {n}" for n in range(4)]  # oldest first
        # A second message due meant a backlog: one more task was queued to share it.
        assert queue == [Job(jobs.SEND_MESSAGE, (tenant.id, None))]

    def test_a_single_message_costs_a_single_task(self, tenant, provider, burst, queue):
        [only] = burst(1)

        assert delivery.send_due_messages(tenant.id, only.id) == {"sent": 1}
        assert queue == []

    def test_it_never_takes_another_tenants_messages(self, tenant, provider, burst):
        other = factories.make_tenant(name="Globex", sms_provider="simulator")
        theirs = factories.make_message(
            conversation=factories.make_conversation(tenant=other, channel="sms"),
            direction="outbound",
            delivery_status="pending",
        )
        [ours] = burst(1)

        delivery.send_due_messages(tenant.id, ours.id)

        assert statuses(ours, theirs) == ["sent", "pending"]
        assert reload(theirs).claimed_at is None

    def test_messages_waiting_for_a_retry_or_held_by_another_worker_are_left_alone(self, tenant, provider, burst):
        backing_off, held, due = burst(3)
        backing_off.next_attempt_at = utcnow() + timedelta(seconds=30)
        held.claimed_at = utcnow()
        db.session.commit()

        assert delivery.send_due_messages(tenant.id, None) == {"sent": 1}
        assert statuses(backing_off, held, due) == ["pending", "pending", "sent"]

    def test_a_message_already_sent_is_skipped_and_the_rest_still_go(self, tenant, provider, burst):
        first, second = burst(2)
        delivery.send_pending_message(tenant.id, first.id)

        assert delivery.send_due_messages(tenant.id, first.id) == {"skipped": 1, "sent": 1}
        assert provider.sends == 2
        assert statuses(first, second) == ["sent", "sent"]


class TestEachMessageKeepsItsOwnRetries:
    def test_a_transient_failure_queues_that_message_alone_and_the_others_still_go(
        self, tenant, provider, burst, queue
    ):
        provider.will(network_down())
        failing, fine = burst(2)

        assert delivery.send_due_messages(tenant.id, failing.id) == {"retrying": 1, "sent": 1}

        [retry] = queue.named(jobs.SEND_MESSAGE)[:1]
        assert retry.args == (tenant.id, failing.id) and 2.5 <= retry.countdown <= 5
        assert statuses(failing, fine) == ["pending", "sent"]
        assert reload(failing).claimed_at is None

    def test_with_the_rate_limit_full_it_stops_and_the_retry_carries_on(
        self, app, tenant, provider, burst, queue, fresh_limiters
    ):
        provider.rate_budget = RateBudget("2/minute", "twilio:+15550003333")
        messages = burst(5)

        assert delivery.send_due_messages(tenant.id, messages[0].id) == {"sent": 2, "retrying": 1}

        assert provider.sends == 2  # the budget, exactly
        retry = queue.named(jobs.SEND_MESSAGE)[-1]
        assert retry.args == (tenant.id, messages[2].id) and 50 < retry.countdown <= 60
        untouched = [reload(message) for message in messages[2:]]
        assert [(m.delivery_status, m.claimed_at, m.send_attempts) for m in untouched] == [("pending", None, 0)] * 3


class TestTurns:
    def test_once_its_turn_is_over_it_queues_a_successor_and_stops(
        self, app, tenant, provider, burst, queue, monkeypatch
    ):
        monkeypatch.setitem(app.config, "SEND_TURN_SECONDS", 0)  # over after the first message
        first, second = burst(2)

        assert delivery.send_due_messages(tenant.id, first.id) == {"sent": 1}
        assert queue == [Job(jobs.SEND_MESSAGE, (tenant.id, None))]
        assert statuses(first, second) == ["sent", "pending"]
        assert delivery.send_due_messages(tenant.id, None) == {"sent": 1}  # the successor


class TestStatusChecksGoInOneTask:
    def test_the_checks_its_messages_ask_for_are_queued_as_one_task(self, tenant, provider, burst, queue):
        provider.will(*(accepted(SENT, check_status_after=2.0) for _ in range(3)))
        messages = burst(3)

        delivery.send_due_messages(tenant.id, messages[0].id)

        [check] = queue.named(jobs.CHECK_STATUSES)
        assert check == Job(jobs.CHECK_STATUSES, (tenant.id, [m.id for m in messages]), 2.0)
        assert queue.named(jobs.CHECK_STATUS) == []

    def test_each_is_checked_and_one_the_provider_cannot_answer_is_asked_again_alone(
        self, tenant, provider, burst, queue
    ):
        messages = burst(3)
        delivery.send_due_messages(tenant.id, messages[0].id)
        queue.clear()
        provider.reports = [StatusReport("delivered"), network_down(), StatusReport("failed", error_code="30003")]

        delivery.check_statuses(tenant.id, [m.id for m in messages])

        assert statuses(*messages) == ["delivered", "sent", "failed"]
        assert queue == [Job(jobs.CHECK_STATUS, (tenant.id, messages[1].id), 60)]
