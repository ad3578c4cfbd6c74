"""The Celery entry points: named from app/jobs.py, late-acked, and turning RetryLater into a Celery retry."""

from datetime import timedelta

import pytest
from celery.exceptions import Retry

import tasks.messages  # noqa: F401  (registers the tasks)
from app import jobs
from app.models.base import utcnow
from app.services import delivery
from config import Config
from tests import factories
from tests.pipeline.fakes import network_down, too_many_requests
from tests.pipeline.helpers import backdate, reload


@pytest.fixture
def celery(app):
    return app.extensions["celery"]


@pytest.fixture
def retries(celery, monkeypatch):
    """The countdowns the send and check tasks asked Celery to retry after."""
    asked = []

    def retry(countdown=None, **options):
        asked.append(countdown)
        return Retry("retry", when=countdown)

    for name in (jobs.SEND_MESSAGE, jobs.CHECK_STATUS):
        monkeypatch.setattr(celery.tasks[name], "retry", retry)
    return asked


def test_every_job_the_app_enqueues_has_a_task_of_that_name(celery):
    names = [jobs.SEND_MESSAGE, jobs.CHECK_STATUS, jobs.SWEEP_UNSENT, jobs.POLL_STATUSES, jobs.PURGE_IDEMPOTENCY_KEYS]

    assert all(name in celery.tasks for name in names)


def test_the_beat_runs_the_sweeper_the_poller_and_the_key_purge(celery):
    scheduled = {entry["task"] for entry in celery.conf.beat_schedule.values()}

    assert {jobs.SWEEP_UNSENT, jobs.POLL_STATUSES, jobs.PURGE_IDEMPOTENCY_KEYS} <= scheduled


class TestLateAcks:
    """A task whose worker dies is delivered again; the claim makes that harmless."""

    def test_sends_and_status_checks_are_acknowledged_only_after_they_ran(self, celery):
        assert celery.tasks[jobs.SEND_MESSAGE].acks_late
        assert celery.tasks[jobs.CHECK_STATUS].acks_late

    def test_with_redis_a_task_lost_with_its_worker_is_delivered_again(self):
        class WithRedis(Config):
            REDIS_URL = "redis://redis.example.test:6379/0"

        celery = WithRedis().CELERY

        assert celery["task_acks_late"] and celery["task_reject_on_worker_lost"]
        assert celery["worker_prefetch_multiplier"] == 1

    def test_redis_redelivers_no_task_before_the_longest_backoff_is_over(self):
        class WithRedis(Config):
            REDIS_URL = "redis://redis.example.test:6379/0"

        config = WithRedis()

        assert config.CELERY["broker_transport_options"]["visibility_timeout"] > config.SEND_BACKOFF_MAX_SECONDS


class TestTheSendTask:
    def test_it_sends_a_pending_message(self, celery, compose, provider):
        message = compose()

        assert celery.tasks[jobs.SEND_MESSAGE](message.tenant_id, message.id) == "sent"

    def test_delivered_twice_it_sends_once(self, celery, compose, provider):
        message = compose()
        task = celery.tasks[jobs.SEND_MESSAGE]

        outcomes = [task(message.tenant_id, message.id), task(message.tenant_id, message.id)]

        assert outcomes == ["sent", "skipped"]
        assert provider.sends == 1

    def test_a_transient_failure_becomes_a_celery_retry_after_the_backoff(self, celery, compose, provider, retries):
        provider.will(network_down())
        message = compose()

        with pytest.raises(Retry):
            celery.tasks[jobs.SEND_MESSAGE](message.tenant_id, message.id)

        [countdown] = retries
        assert 2.5 <= countdown <= 5

    def test_a_wait_longer_than_redis_would_hold_the_task_is_left_to_the_sweeper(
        self, celery, compose, provider, retries
    ):
        provider.will(too_many_requests(retry_after=2 * 3600))  # e.g. GHL's daily limit
        message = compose()

        outcome = celery.tasks[jobs.SEND_MESSAGE](message.tenant_id, message.id)

        assert (outcome, retries) == (
            "deferred",
            [],
        )  # a countdown past Redis' visibility timeout would run the task twice
        stored = reload(message)
        assert (stored.delivery_status, stored.claimed_at, stored.enqueued_at) == ("pending", None, None)
        assert stored.next_attempt_at > utcnow() + timedelta(hours=1, minutes=59)  # when the sweeper will send it

    def test_run_in_process_a_retry_is_left_to_the_sweeper_instead_of_running_at_once(
        self, celery, compose, provider, retries
    ):
        provider.will(network_down())
        message = compose()

        result = celery.tasks[jobs.SEND_MESSAGE].apply(args=(message.tenant_id, message.id))  # no broker: eager

        assert (result.get(), retries, provider.sends) == ("deferred", [], 1)
        stored = reload(message)
        assert (stored.delivery_status, stored.enqueued_at) == ("pending", None)
        backdate(stored, next_attempt_at=timedelta(seconds=31))
        assert delivery.sweep_unsent() == 1  # once due, the sweeper hands it to a worker again


class TestTheStatusCheckTask:
    def test_a_provider_that_cannot_be_reached_is_asked_again_later(self, celery, conversation, provider, retries):
        message = factories.make_message(conversation=conversation, direction="outbound", provider_message_id="SM1")
        provider.reports = [network_down()]

        with pytest.raises(Retry):
            celery.tasks[jobs.CHECK_STATUS](message.tenant_id, message.id)

        assert retries == [60]
