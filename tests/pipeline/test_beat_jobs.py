"""The beat's jobs: re-enqueue what was never sent, ask providers about messages stuck at `sent`, forget old keys."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import Contact, IdempotencyKey, Message
from app.models.base import utcnow
from app.providers.base import DELIVERED, FAILED, PENDING, SENT, ProviderError, StatusReport
from app.services import delivery, messages
from app.services.retries import RetryLater
from tests import factories
from tests.pipeline.fakes import network_down
from tests.pipeline.helpers import backdate, reload
from tests.queue import Job

LONG_AGO = timedelta(minutes=10)


@pytest.fixture
def pending(compose, queue):
    """A message the API stored and whose enqueue was lost (Redis was down)."""
    message = compose()
    queue.clear()
    db.session.execute(sa.update(Message).where(Message.id == message.id).values(enqueued_at=None))
    db.session.commit()
    return message


def sweep(queue) -> list[Job]:
    delivery.sweep_unsent()
    return queue.named(jobs.SEND_MESSAGE)


class TestTheSweeper:
    def test_a_pending_message_nobody_claimed_is_enqueued_again_after_the_grace_period(self, pending, queue):
        backdate(pending, inserted_at=timedelta(seconds=31))

        assert sweep(queue) == [Job(jobs.SEND_MESSAGE, (pending.tenant_id, pending.id))]

    def test_a_message_within_the_grace_period_is_left_to_its_own_task(self, pending, queue):
        backdate(pending, inserted_at=timedelta(seconds=20))

        assert sweep(queue) == []

    def test_a_message_waiting_for_its_retry_is_left_alone_until_the_retry_is_overdue(self, pending, queue):
        backdate(pending, inserted_at=LONG_AGO, next_attempt_at=-timedelta(minutes=5))  # due five minutes from now
        assert sweep(queue) == []

        backdate(pending, next_attempt_at=timedelta(seconds=31))
        assert sweep(queue) == [Job(jobs.SEND_MESSAGE, (pending.tenant_id, pending.id))]

    def test_a_message_being_sent_right_now_is_left_alone(self, pending, queue):
        backdate(pending, inserted_at=LONG_AGO, claimed_at=timedelta(seconds=20))

        assert sweep(queue) == []
        assert reload(pending).delivery_status == PENDING

    def test_a_send_whose_worker_died_is_reconciled_with_the_provider_rather_than_failed_or_resent(
        self, pending, queue
    ):
        backdate(pending, inserted_at=LONG_AGO, claimed_at=timedelta(seconds=61))

        assert sweep(queue) == []

        assert queue.names() == [jobs.RECONCILE_SEND]
        assert reload(pending).delivery_status == PENDING

    def test_messages_past_pending_are_never_swept(self, conversation, queue):
        for status in (SENT, DELIVERED, FAILED):
            message = factories.make_message(conversation=conversation, direction="outbound", delivery_status=status)
            backdate(message, inserted_at=LONG_AGO)

        assert sweep(queue) == []

    def test_a_queued_message_is_not_queued_again_while_its_task_may_still_be_waiting(self, compose, queue):
        message = compose()  # its task is in the queue, behind others
        backdate(message, inserted_at=LONG_AGO, enqueued_at=timedelta(seconds=20))
        queue.clear()

        assert sweep(queue) == []

    def test_a_task_queued_over_half_a_minute_ago_and_never_taken_is_presumed_lost(self, compose, queue):
        message = compose()  # e.g. taken by a worker killed before it claimed the message
        backdate(message, inserted_at=LONG_AGO, enqueued_at=timedelta(seconds=31))
        queue.clear()

        assert sweep(queue) == [Job(jobs.SEND_MESSAGE, (message.tenant_id, message.id))]

    def test_after_redis_restarted_empty_a_message_queued_a_moment_ago_is_queued_again_at_once(
        self, compose, queue, monkeypatch
    ):
        message = compose()  # its task was in the Redis that came back empty
        waiting = compose("A retry")  # its retry's task too, but that retry is not due yet
        backdate(waiting, next_attempt_at=-timedelta(seconds=20))
        queue.clear()
        monkeypatch.setattr(delivery, "broker_was_emptied", lambda observer: True)

        assert sweep(queue) == [Job(jobs.SEND_MESSAGE, (message.tenant_id, message.id))]

    def test_a_swept_message_goes_out_once_even_if_its_first_task_turns_up_too(self, compose, queue, provider):
        message = compose()  # its task is in `queue`, delayed somewhere for longer than the sweeper waits
        backdate(message, inserted_at=LONG_AGO, enqueued_at=LONG_AGO + timedelta(seconds=1))

        delivery.sweep_unsent()
        for job in queue.named(jobs.SEND_MESSAGE):
            delivery.send_pending_message(*job.args)

        assert len(queue.named(jobs.SEND_MESSAGE)) == 2
        assert provider.sends == 1


class TestStatusPolling:
    @pytest.fixture
    def sent(self, conversation):
        message = factories.make_message(conversation=conversation, direction="outbound", provider_message_id="SM1")
        backdate(message, sent_at=timedelta(minutes=11))
        return message

    def test_a_message_left_at_sent_too_long_gets_a_status_check(self, sent, queue):
        assert delivery.poll_statuses() == 1

        assert queue == [Job(jobs.CHECK_STATUS, (sent.tenant_id, sent.id))]
        assert reload(sent).status_checked_at is not None

    def test_it_is_not_asked_about_again_until_another_interval_passes(self, sent, queue):
        delivery.poll_statuses()
        assert delivery.poll_statuses() == 0

        backdate(sent, status_checked_at=timedelta(minutes=11))
        assert delivery.poll_statuses() == 1

    def test_a_recent_send_is_given_time_for_its_callback(self, sent, queue):
        backdate(sent, sent_at=timedelta(minutes=5))

        assert delivery.poll_statuses() == 0

    def test_polling_gives_up_on_a_message_after_three_days(self, sent, queue):
        backdate(sent, sent_at=timedelta(days=3, minutes=1))

        assert delivery.poll_statuses() == 0

    def test_a_message_with_a_final_status_is_never_polled(self, conversation, queue):
        for status in (DELIVERED, FAILED, "read"):
            message = factories.make_message(conversation=conversation, direction="outbound", delivery_status=status)
            backdate(message, sent_at=timedelta(minutes=11))

        assert delivery.poll_statuses() == 0


class TestCheckingAStatus:
    @pytest.fixture
    def sent(self, conversation):
        return factories.make_message(conversation=conversation, direction="outbound", provider_message_id="SM1")

    def test_the_providers_answer_is_recorded(self, sent, provider):
        provider.reports = [StatusReport(DELIVERED)]

        delivery.check_status(sent.tenant_id, sent.id)

        assert provider.fetched == ["SM1"]
        assert reload(sent).delivery_status == DELIVERED

    def test_a_failure_is_recorded_with_the_providers_reason(self, sent, provider):
        provider.reports = [StatusReport(FAILED, error_code="30003", error_message="Unreachable destination handset")]

        delivery.check_status(sent.tenant_id, sent.id)

        stored = reload(sent)
        assert (stored.delivery_status, stored.error_code, stored.error_message) == (
            FAILED,
            "30003",
            "Unreachable destination handset",
        )

    @pytest.mark.parametrize("answer", [StatusReport(None), StatusReport(SENT), StatusReport(PENDING)])
    def test_an_answer_with_nothing_new_changes_nothing(self, sent, provider, answer):
        provider.reports = [answer]

        delivery.check_status(sent.tenant_id, sent.id)

        assert reload(sent).delivery_status == SENT

    def test_a_provider_that_cannot_be_reached_is_asked_again_later(self, sent, provider):
        provider.reports = [network_down()]

        with pytest.raises(RetryLater):
            delivery.check_status(sent.tenant_id, sent.id)

        assert reload(sent).delivery_status == SENT

    def test_a_provider_that_refuses_to_answer_is_left_alone(self, sent, provider):
        provider.reports = [ProviderError("Not found", code="20404")]

        delivery.check_status(sent.tenant_id, sent.id)

        assert reload(sent).delivery_status == SENT

    def test_a_message_that_moved_on_meanwhile_is_not_fetched(self, sent, provider):
        sent.delivery_status = DELIVERED
        db.session.commit()

        delivery.check_status(sent.tenant_id, sent.id)

        assert provider.fetched == []

    def test_a_tenant_that_switched_its_provider_off_is_not_asked_and_nothing_breaks(self, sent, tenant):
        tenant.sms_provider = None
        db.session.commit()

        delivery.check_status(sent.tenant_id, sent.id)

        assert reload(sent).delivery_status == SENT

    def test_another_tenants_check_fetches_nothing(self, sent, provider):
        stranger = factories.make_tenant(name="Globex", sms_provider="simulator")

        delivery.check_status(stranger.id, sent.id)

        assert provider.fetched == []


class TestTheSimulator:
    """The simulator stands in for a provider in development; its magic numbers drive each outcome."""

    def send_to(self, tenant, staff, phone, queue):
        contact = factories.make_contact(tenant=tenant, phone=phone)
        sent = messages.send_to_contact(tenant, staff, messages.Draft(body="Hi"), channel="sms", contact_id=contact.id)
        return sent.message, contact

    def run_the_queue(self, queue):
        while queue:
            job = queue.pop(0)
            {jobs.SEND_MESSAGE: delivery.send_pending_message, jobs.CHECK_STATUS: delivery.check_status}[job.name](
                *job.args
            )

    def test_a_message_is_sent_then_delivered(self, tenant, staff, queue):
        message, _ = self.send_to(tenant, staff, "+15550101234", queue)

        self.run_the_queue(queue)

        assert reload(message).delivery_status == DELIVERED

    def test_a_number_ending_0000_is_sent_then_fails_as_unreachable(self, tenant, staff, queue):
        message, _ = self.send_to(tenant, staff, "+15550100000", queue)

        self.run_the_queue(queue)

        assert (reload(message).delivery_status, reload(message).error_code) == (FAILED, "30003")

    def test_a_number_ending_0002_has_opted_out(self, tenant, staff, queue):
        message, contact = self.send_to(tenant, staff, "+15550100002", queue)

        self.run_the_queue(queue)

        assert (reload(message).delivery_status, reload(message).error_code) == (FAILED, "21610")
        assert db.session.get(Contact, contact.id).sms_opted_out

    def test_a_number_ending_0001_keeps_failing_transiently(self, tenant, staff, queue):
        message, _ = self.send_to(tenant, staff, "+15550100001", queue)

        with pytest.raises(RetryLater):
            self.run_the_queue(queue)

        assert reload(message).delivery_status == PENDING


class TestForgettingIdempotencyKeys:
    def test_keys_older_than_a_day_are_deleted_and_younger_ones_kept(self, compose):
        compose(key="old")
        compose("Another", key="young")
        old = db.session.query(IdempotencyKey).filter_by(key="old").one()
        old.inserted_at = utcnow() - timedelta(hours=25)
        db.session.commit()

        assert delivery.purge_idempotency_keys() == 1

        assert [key.key for key in db.session.query(IdempotencyKey)] == ["young"]


class TestPeriodicJobsInProcess:
    """`flask --app wsgi periodic-jobs`: beat's jobs for development without Redis."""

    def test_one_round_re_enqueues_a_lost_send(self, app, pending, queue):
        backdate(pending, inserted_at=timedelta(seconds=31))

        result = app.test_cli_runner().invoke(args=["periodic-jobs", "--once"])

        assert result.exit_code == 0, result.output
        assert "re-enqueued 1 sends" in result.output
        assert queue.named(jobs.SEND_MESSAGE) == [Job(jobs.SEND_MESSAGE, (pending.tenant_id, pending.id))]

    def test_a_failed_round_does_not_stop_the_loop(self, app, db, monkeypatch):
        def database_busy():
            raise RuntimeError("database is locked")

        monkeypatch.setattr(delivery, "sweep_unsent", database_busy)

        result = app.test_cli_runner().invoke(args=["periodic-jobs", "--once"])

        assert result.exit_code == 0
