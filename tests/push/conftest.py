"""Push fixtures: the APNs and FCM stand-ins, the app configured to use them, and enqueues recorded."""

import json

import pytest
from flask import current_app

import tasks.push  # noqa: F401  (registers the push tasks, as the worker's entry point does)
from app import jobs, push
from app.celery import redis_client
from app.services import devices
from tests import factories
from tests.push.standins import KEY_ID, TEAM_ID, TOPIC, ApnsStandIn, FcmStandIn
from tests.services import redis_url

IOS_TOKEN = "a" * 64
IOS_TOKEN_2 = "b" * 64
ANDROID_TOKEN = "fcm-token-" + "x" * 140


@pytest.fixture(scope="session")
def apns_server(tmp_path_factory):
    server = ApnsStandIn(tmp_path_factory.mktemp("apns")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fcm_server():
    server = FcmStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def apns(app, apns_server, fcm_server, monkeypatch):
    """The app's push backends pointed at the stand-ins (fresh ones, so each test starts clean)."""
    apns_server.reset()
    fcm_server.reset()
    settings = {
        "APNS_AUTH_KEY": apns_server.auth_key_pem,
        "APNS_KEY_ID": KEY_ID,
        "APNS_TEAM_ID": TEAM_ID,
        "APNS_TOPIC": TOPIC,
        "APNS_BASE_URL": apns_server.base_url,
        "APNS_CA_FILE": str(apns_server.ca_file),
        "FCM_CREDENTIALS": json.dumps(fcm_server.service_account()),
        "FCM_BASE_URL": fcm_server.base_url,
        "PUSH_TIMEOUT_SECONDS": 5.0,
    }
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)
    push.reset_backends()
    yield apns_server
    push.reset_backends()


@pytest.fixture
def fcm(apns, fcm_server):
    return fcm_server


@pytest.fixture
def enqueued(queue):
    """What the app enqueued (tests/queue.py's recorder): Job(name, args, countdown)."""
    return queue


class QueueWorker:
    """Plays the Celery worker for some queues: runs the recorded jobs whose names start with `prefixes`."""

    def __init__(self, queue: list, prefixes: tuple[str, ...] = ("push.",)):
        self.queue = queue
        self.prefixes = prefixes

    def _mine(self, job) -> bool:
        return job.name.startswith(self.prefixes)

    def _run(self, job):
        self.queue.remove(job)
        return current_app.extensions["celery"].tasks[job.name](*job.args)

    def run(self) -> list:
        """Run until none of its jobs is left (including those the jobs themselves enqueue)."""
        outcomes = []
        while mine := [job for job in self.queue if self._mine(job)]:
            outcomes.append(self._run(mine[0]))
        return outcomes

    def step(self) -> list:
        """Run only what is enqueued now (a retry it schedules waits for the next step)."""
        return [self._run(job) for job in [job for job in self.queue if self._mine(job)]]

    def names(self) -> list[str]:
        return [job.name for job in self.queue if self._mine(job)]


@pytest.fixture
def worker(queue):
    return QueueWorker(queue)


@pytest.fixture
def markers(app, monkeypatch):
    """Coalescing on: the app's REDIS_URL points at the test Redis (markers cleared before and after)."""
    url = redis_url()
    monkeypatch.setitem(app.config, "REDIS_URL", url)
    client = redis_client(url)
    for key in client.scan_iter("push:*"):
        client.delete(key)
    yield client
    for key in client.scan_iter("push:*"):
        client.delete(key)


def register(user, token=IOS_TOKEN, platform="ios", environment="production", app_id=None):
    return devices.register_device(
        user,
        None,
        token=token,
        platform=platform,
        environment=environment if platform == "ios" else None,
        app_id=app_id,
    )


@pytest.fixture
def contact(tenant):
    return factories.make_contact(tenant=tenant, phone="+15553334444", first_name="Dana", last_name="Scully")


@pytest.fixture
def conversation(tenant, contact):
    return factories.make_conversation(tenant=tenant, contact=contact)


__all__ = ["ANDROID_TOKEN", "IOS_TOKEN", "IOS_TOKEN_2", "jobs", "register"]
