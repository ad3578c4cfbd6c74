"""The Celery entry points: named from app/jobs.py, late-acked, retried when their work must wait."""

import os
import subprocess
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from sqlalchemy.exc import OperationalError

import tasks  # noqa: F401  (registers every task, as the worker's entry point does)
from app import jobs
from app.models.base import utcnow
from app.services import delivery
from config import Config
from tests import factories
from tests.pipeline.fakes import network_down, too_many_requests
from tests.pipeline.helpers import backdate, reload
from tests.pipeline.live import ROOT


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


def test_every_job_in_the_registry_has_a_task_of_that_name_and_nothing_else_is_ours(celery):
    ours = {name for name in celery.tasks if not name.startswith("celery.")}

    assert ours == set(jobs.QUEUE_OF)


@pytest.mark.parametrize("name", sorted(jobs.QUEUE_OF))
def test_each_job_is_routed_to_its_own_queue_which_the_procfile_worker_consumes(celery, name):
    queue = celery.amqp.router.route({}, name)["queue"].name
    procfile = (ROOT / "Procfile").read_text()

    assert queue == jobs.QUEUE_OF[name]
    assert queue in procfile.split("--queues=${WORKER_QUEUES:-", 1)[1].split("}", 1)[0].split(",")


@pytest.mark.parametrize("process", ["worker", "beat"])
@pytest.mark.parametrize(("log_level", "celery_level"), [({"LOG_LEVEL": "WARNING"}, "WARNING"), ({}, "INFO")])
def test_the_procfiles_worker_and_beat_log_at_the_configured_level(process, log_level, celery_level):
    # Celery's --loglevel sets the level of the whole process, over the one create_app() set.
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith(f"{process}:"))
    as_a_dyno_runs_it = subprocess.run(  # noqa: S603
        ["bash", "-c", f"printf '%s\\n' {line.split(':', 1)[1]}"],  # noqa: S607
        env={"PATH": os.environ["PATH"], **log_level},
        capture_output=True,
        text=True,
        check=True,
    )

    assert f"--loglevel={celery_level}" in as_a_dyno_runs_it.stdout.split()


def test_the_beat_runs_every_periodic_job_on_the_periodic_queue(celery):
    scheduled = {entry["task"] for entry in celery.conf.beat_schedule.values()}

    assert scheduled == set(jobs.PERIODIC_JOBS)
    assert {jobs.QUEUE_OF[name] for name in scheduled} == {jobs.PERIODIC}


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
        # What a worker reserves ahead stays few: each is re-enqueued by a sweeper if the worker dies.
        assert 1 <= celery["worker_prefetch_multiplier"] <= 4

    def test_redis_redelivers_no_task_before_the_longest_backoff_is_over(self):
        class WithRedis(Config):
            REDIS_URL = "redis://redis.example.test:6379/0"

        config = WithRedis()

        assert config.CELERY["broker_transport_options"]["visibility_timeout"] > config.SEND_BACKOFF_MAX_SECONDS


class TestTheSendTask:
    def test_it_sends_a_pending_message(self, celery, compose, provider):
        message = compose()

        assert celery.tasks[jobs.SEND_MESSAGE](message.tenant_id, message.id) == {"sent": 1}

    def test_delivered_twice_it_sends_once(self, celery, compose, provider):
        message = compose()
        task = celery.tasks[jobs.SEND_MESSAGE]

        outcomes = [task(message.tenant_id, message.id), task(message.tenant_id, message.id)]

        assert outcomes == [{"sent": 1}, {"skipped": 1}]
        assert provider.sends == 1

    def test_a_transient_failure_queues_that_message_again_after_the_backoff(self, celery, compose, provider, queue):
        provider.will(network_down())
        message = compose()
        queue.clear()  # the API's hand-off

        assert celery.tasks[jobs.SEND_MESSAGE](message.tenant_id, message.id) == {"retrying": 1}

        [job] = queue
        assert (job.name, job.args) == (jobs.SEND_MESSAGE, (message.tenant_id, message.id))
        assert 2.5 <= job.countdown <= 5
        stored = reload(message)
        assert (stored.delivery_status, stored.claimed_at, stored.send_attempts) == ("pending", None, 1)

    def test_a_database_that_is_away_retries_the_task(self, celery, compose, provider, retries, monkeypatch):
        message = compose()

        def away(*args):
            raise OperationalError("SELECT 1", {}, Exception("the server closed the connection"))

        monkeypatch.setattr(delivery, "send_pending_message", away)

        with pytest.raises(Retry):
            celery.tasks[jobs.SEND_MESSAGE](message.tenant_id, message.id)

        assert retries == [1]

    def test_a_wait_longer_than_redis_would_hold_the_task_is_left_to_the_sweeper(
        self, celery, compose, provider, queue
    ):
        provider.will(too_many_requests(retry_after=2 * 3600))  # e.g. GHL's daily limit
        message = compose()
        queue.clear()  # the API's hand-off

        outcome = celery.tasks[jobs.SEND_MESSAGE](message.tenant_id, message.id)

        # a countdown past Redis' visibility timeout would run the task twice
        assert (outcome, queue) == ({"retrying": 1}, [])
        stored = reload(message)
        assert (stored.delivery_status, stored.claimed_at, stored.enqueued_at) == ("pending", None, None)
        assert stored.next_attempt_at > utcnow() + timedelta(hours=1, minutes=59)  # when the sweeper will send it

    def test_run_in_process_a_retry_is_left_to_the_sweeper_instead_of_running_at_once(
        self, celery, compose, provider, queue, monkeypatch
    ):
        monkeypatch.setitem(celery.conf, "task_always_eager", True)  # no broker (scripts/serve.sh)
        provider.will(network_down())
        message = compose()
        queue.clear()  # the API's hand-off

        result = celery.tasks[jobs.SEND_MESSAGE].apply(args=(message.tenant_id, message.id))

        assert (result.get(), queue, provider.sends) == ({"retrying": 1}, [], 1)
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
