"""A real Celery worker consuming only the `push` queue: pushes reach it, sends do not (and the reverse).

The worker is a subprocess configured through its environment, like the Procfile's, on a committed
database of its own and a private Redis, sending to the APNs stand-in.
"""

import subprocess
import sys
import uuid

import pytest
from flask import current_app

from app import celery as app_celery
from app import jobs
from app.celery import enqueue
from app.extensions import db
from config import Config, TestConfig
from tests import factories
from tests.pipeline.live import ROOT, RedisServer, wait_until
from tests.push.conftest import IOS_TOKEN, register
from tests.push.standins import KEY_ID, TEAM_ID, TOPIC
from tests.services import migrated_app, postgres_url, require, truncate_everything

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("push-redis"))
    try:
        server.start()
    except Exception as exc:
        server.stop()
        require("Redis", exc)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_app(redis_server):
    class PushWorkerConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = postgres_url("push")
        REDIS_URL = redis_server.url

        @property
        def CELERY(self) -> dict:  # noqa: N802  (the real broker, as in production)
            return Config.CELERY.fget(self)

    return migrated_app(PushWorkerConfig(), becomes_current=False)


@pytest.fixture
def live(live_app, monkeypatch):
    monkeypatch.setattr(app_celery, "_broker_down_until", 0.0)
    with live_app.app_context():
        truncate_everything()
        try:
            yield live_app
        finally:
            db.session.remove()
            truncate_everything()


def start_worker(app, apns_server, log, queues: str) -> subprocess.Popen:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://"),
        "REDIS_URL": app.config["REDIS_URL"],
        "ENCRYPTION_KEYS": TestConfig.ENCRYPTION_KEYS,
        "APNS_AUTH_KEY": apns_server.auth_key_pem,
        "APNS_KEY_ID": KEY_ID,
        "APNS_TEAM_ID": TEAM_ID,
        "APNS_TOPIC": TOPIC,
        "APNS_BASE_URL": apns_server.base_url,
        "APNS_CA_FILE": str(apns_server.ca_file),
        "LOG_LEVEL": "INFO",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_worker.celery", "worker", "-Q", queues, "--pool=solo",
         "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "--hostname", f"push-test-{uuid.uuid4().hex[:8]}@%h"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_until(lambda: " ready." in log.read_text(errors="replace"), timeout=30, what="the worker to start")
    return process


def test_a_push_only_worker_sends_pushes_and_leaves_sends_alone(live, real_broker, apns_server, redis_server, tmp_path):
    apns_server.reset()
    tenant = factories.make_tenant(name="Acme")
    staff = factories.make_user(tenant=tenant, email="staff@acme.test")
    register(staff)
    conversation = factories.make_conversation(tenant=tenant)
    message = factories.make_message(conversation=conversation, body="Is my order ready?")
    broker = current_app.extensions["celery"].connection_for_write().default_channel.client

    assert enqueue(jobs.PUSH_SEND, tenant.id, staff.id, "inbound", conversation.id, message.id)
    assert enqueue(jobs.SEND_MESSAGE, tenant.id, 999_999)  # a send: for the other queue's workers
    assert (broker.llen(jobs.PUSH), broker.llen(jobs.SENDS)) == (1, 1)

    log = tmp_path / "worker.log"
    process = start_worker(live, apns_server, log, "push")
    try:
        wait_until(lambda: apns_server.requests, what="the push to reach the stand-in")
        assert enqueue(jobs.PUSH_SEND, tenant.id, staff.id, "test", None, None)
        wait_until(lambda: len(apns_server.requests) == 2, what="the second push")
    finally:
        process.terminate()
        process.wait(15)

    assert [request["token"] for request in apns_server.requests] == [IOS_TOKEN, IOS_TOKEN]
    assert apns_server.requests[0]["payload"]["aps"]["alert"]["body"] == "Is my order ready?"
    assert broker.llen(jobs.SENDS) == 1  # the send is still waiting: a push worker never takes it
    output = log.read_text(errors="replace")
    assert output.count("push.backend-not-configured platform=android") == 1  # said once, at start
    assert apns_server.auth_key_pem.splitlines()[1] not in output
