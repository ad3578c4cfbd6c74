"""A frozen Redis (SIGSTOP: connections stay open, nothing answers) costs an API send at most one
bounded wait, and only the requests already waiting on Redis pay it; every send is stored and
either queued or left to the sweeper."""

import os
import signal
import threading
import time

import pytest
import redis
import sqlalchemy as sa
from flask import current_app

from app import celery as app_celery
from app.extensions import db
from app.live.bus import PUBLISH_TIMEOUT_SECONDS
from app.models import Message
from config import BROKER_SOCKET_TIMEOUT_SECONDS
from tests import factories
from tests.pipeline import live
from tests.services import truncate_everything

ONE_WAIT = max(PUBLISH_TIMEOUT_SECONDS, BROKER_SOCKET_TIMEOUT_SECONDS)


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    server = live.started_redis(tmp_path_factory.mktemp("frozen-redis"))
    yield server
    os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


@pytest.fixture
def api_on_redis(committed_app, private_redis, real_broker, monkeypatch):
    """The API on the committed database, its broker and live bus on the private Redis."""
    monkeypatch.setattr(app_celery, "_broker_down_until", 0.0)
    app = live.make_app(live.live_config(private_redis.url))
    with app.app_context():
        truncate_everything()
        try:
            yield app
        finally:
            db.session.remove()
            truncate_everything()
            db.engine.dispose()


@pytest.fixture
def frozen(private_redis):
    def freeze():
        os.kill(private_redis.process.pid, signal.SIGSTOP)

    yield freeze
    os.kill(private_redis.process.pid, signal.SIGCONT)


def timed_send(client, token: str, phone: str, results: list) -> None:
    started = time.monotonic()
    answer = client.post(
        "/api/v1/conversations/send",
        json={"phone": phone, "message": f"Table for {phone}"},
        headers={"Authorization": f"Bearer {token}"},
    )
    results.append((answer.status_code, time.monotonic() - started))


def test_sends_during_a_redis_freeze_answer_within_one_bounded_wait(api_on_redis, private_redis, frozen):
    tenant = factories.make_tenant(name="Acme", sms_provider="simulator")
    token = factories.make_token(user=factories.make_user(tenant=tenant, role="staff"))
    db.session.commit()
    warm: list = []
    timed_send(current_app.test_client(), token, "+15550100100", warm)  # pools hold open connections now
    assert warm[0][0] == 201

    frozen()
    results: list = []
    threads = []
    for index in range(8):  # a request every 0.2 s, as staff keep sending while Redis hangs
        thread = threading.Thread(
            target=timed_send, args=(api_on_redis.test_client(), token, f"+1555010020{index}", results)
        )
        thread.start()
        threads.append(thread)
        time.sleep(0.2)
    for thread in threads:
        thread.join(30)

    assert [status for status, _ in results] == [201] * 8
    latencies = sorted(seconds for _, seconds in results)
    assert latencies[-1] < ONE_WAIT + 0.6, latencies  # one bounded wait at most, never one per Redis call
    # Those that came after a call had been stuck for a moment skipped Redis at once.
    assert sum(1 for seconds in latencies if seconds > 0.9) <= 3, latencies


def test_nothing_sent_during_the_freeze_is_lost(api_on_redis, private_redis, frozen):
    tenant = factories.make_tenant(name="Acme", sms_provider="simulator")
    token = factories.make_token(user=factories.make_user(tenant=tenant, role="staff"))
    db.session.commit()
    client = current_app.test_client()
    timed_send(client, token, "+15550100300", [])
    redis.Redis.from_url(private_redis.url).delete("sends")

    frozen()
    results: list = []
    for index in range(4):
        timed_send(client, token, f"+1555010031{index}", results)
    os.kill(private_redis.process.pid, signal.SIGCONT)

    assert [status for status, _ in results] == [201] * 4
    db.session.rollback()
    left_to_sweeper = db.session.scalar(
        sa.select(sa.func.count()).where(
            Message.delivery_status == "pending", Message.enqueued_at.is_(None), Message.body.like("Table for %31%")
        )
    )
    time.sleep(0.3)  # a publish written before the freeze's timeout lands once Redis runs again
    queued = redis.Redis.from_url(private_redis.url).llen("sends")
    # Each is in the queue, or marked for the sweeper (which enqueues it within a minute); a copy in both is harmless.
    assert left_to_sweeper + queued >= 4


def test_a_call_stuck_in_another_thread_makes_redis_skipped_until_it_returns(monkeypatch, caplog):
    monkeypatch.setattr(app_celery, "_broker_down_until", 0.0)
    release = threading.Event()

    def stuck_call():
        with app_celery.redis_call():
            release.wait(5)

    thread = threading.Thread(target=stuck_call)
    thread.start()
    try:
        assert not app_celery.redis_recently_failed()  # a call in flight for a moment is normal
        time.sleep(app_celery.REDIS_STUCK_AFTER_SECONDS + 0.2)
        assert app_celery.redis_recently_failed()
        assert app_celery.redis_recently_failed()
        # Operators are told once per stuck call why sends now go through the sweeper.
        assert [r.message for r in caplog.records if r.name == "app.celery"] == ["redis.stuck"]
    finally:
        release.set()
        thread.join(5)
    assert not app_celery.redis_recently_failed()  # it answered after all: Redis is used again


def test_a_failed_call_pauses_redis_for_every_thread(monkeypatch):
    monkeypatch.setattr(app_celery, "_broker_down_until", 0.0)

    with pytest.raises(redis.TimeoutError), app_celery.redis_call():
        raise redis.TimeoutError("Timeout reading from socket")

    assert app_celery.redis_recently_failed()
