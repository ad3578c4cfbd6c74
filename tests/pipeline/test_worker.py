"""End to end with a real Celery worker, our own Redis and PostgreSQL: from the API call to the provider and back.

Each test starts `celery -A celery_worker.celery worker` as a subprocess (as the `worker` dyno
does), configured through its environment. The API runs in this process on the same database.
"""

import re
import time

import pytest
import redis
import sqlalchemy as sa
from flask import current_app

from app import celery as app_celery
from app import crypto, jobs
from app.celery import enqueue
from app.extensions import db
from app.models import Message, WebhookEvent
from config import Config
from tests import factories
from tests.pipeline.live import FakeTwilio, Worker, wait_until
from tests.webhooks import payloads
from tests.webhooks.conftest import FakeTwilio as SignedTwilio
from tests.webhooks.conftest import make_twilio_tenant

pytestmark = pytest.mark.integration


@pytest.fixture
def fake_twilio():
    with FakeTwilio() as twilio:
        yield twilio


@pytest.fixture
def worker(live_api, redis_server, fake_twilio, tmp_path):
    worker = Worker(redis_url=redis_server.url, log=tmp_path / "worker.log", TWILIO_API_BASE_URL=fake_twilio.url)
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()
        print(worker.output()[-8000:])  # shown when the test fails


def staff_api(sms_provider: str) -> factories.ApiClient:
    """An API client for a staff member of a tenant texting through `sms_provider` (all committed)."""
    fields = {}
    if sms_provider == "twilio":
        fields = {
            "twilio_account_sid_encrypted": crypto.encrypt("AC" + "0123456789abcdef" * 2),
            "twilio_auth_token_encrypted": crypto.encrypt("a-twilio-auth-token"),
            "twilio_phone_number": "+15550001111",
        }
    tenant = factories.make_tenant(name="Acme", sms_provider=sms_provider, **fields)
    staff = factories.make_user(tenant=tenant, role="staff")
    return factories.ApiClient(current_app.test_client(), factories.make_token(user=staff))


def send(api, phone: str, **fields) -> dict:
    response = api.post("/api/v1/conversations/send", json={"phone": phone, "message": "Your table is ready", **fields})
    assert response.status_code == 201, response.json
    return response.json["data"]


def stored(message_id: int) -> Message:
    db.session.rollback()  # a fresh snapshot: see what the worker committed
    return db.session.get(Message, message_id, populate_existing=True)


def status_becomes(message_id: int, status: str, *, timeout: float = 20) -> Message:
    return wait_until(
        lambda: (message := stored(message_id)).delivery_status == status and message,
        timeout=timeout,
        what=f"message {message_id} to be {status}",
    )


def finished(worker: Worker, task: str, result: str = "") -> int:
    """How many runs of `task` the worker logged as succeeded (with `result`, if given)."""
    return len(
        re.findall(rf"Task {re.escape(task)}\[[^\]]+\] succeeded in [\d.]+s: {re.escape(result)}", worker.output())
    )


def broker_pause_over() -> None:
    app_celery._broker_down_until = 0.0  # the API's ten-second pause on a failed broker has passed


def test_a_message_goes_from_the_api_through_the_simulator_to_delivered(live_api, worker):
    api = staff_api("simulator")

    data = send(api, "+15550109999")

    assert data["status"] == "pending"
    message = status_becomes(data["message"]["id"], "delivered")
    assert message.provider_message_id.startswith("SIM")
    assert message.sent_at is not None
    assert message.send_attempts == 1
    listed = api.get(f"/api/v1/conversations/{data['conversation']['id']}/messages").json["data"]
    assert [m["delivery_status"] for m in listed] == ["delivered"]


def test_a_task_waiting_under_a_key_takes_the_next_enqueues_until_it_starts(live_api, redis_server):
    queued = redis.Redis.from_url(redis_server.url)
    queued.delete(jobs.SENDS)

    assert app_celery.enqueue_unless_waiting("sends:1", jobs.SEND_MESSAGE, 1, 10)
    assert app_celery.enqueue_unless_waiting("sends:1", jobs.SEND_MESSAGE, 1, 11)  # the waiting one takes it
    assert app_celery.enqueue_unless_waiting("sends:2", jobs.SEND_MESSAGE, 2, 20)  # another tenant's key
    assert queued.llen(jobs.SENDS) == 2

    app_celery.waiting_task_started("sends:1")  # what the task does first
    assert app_celery.enqueue_unless_waiting("sends:1", jobs.SEND_MESSAGE, 1, 12)
    assert queued.llen(jobs.SENDS) == 3
    assert (
        0 < queued.ttl("conversations:waiting:sends:1") <= app_celery.WAITING_MARK_SECONDS
    )  # a lost task's mark expires
    queued.delete(jobs.SENDS, "conversations:waiting:sends:1", "conversations:waiting:sends:2")


def test_a_burst_of_sends_waits_in_one_task_and_each_message_goes_out_once(live_api, redis_server, tmp_path):
    api = staff_api("simulator")
    # Numbers ending 0000-0002 would make the simulator fail: 0010 onwards.
    ids = [send(api, f"+1555020{n:04d}", message=f"burst {n}")["message"]["id"] for n in range(10, 40)]

    # No worker yet: the first send queued a task, the other 29 saw it waiting.
    assert redis.Redis.from_url(redis_server.url).llen(jobs.SENDS) == 1
    worker = Worker(redis_url=redis_server.url, log=tmp_path / "prefork.log", pool="prefork")
    worker.start()
    try:
        wait_until(lambda: all(stored(i).delivery_status == "delivered" for i in ids), timeout=30, what="all delivered")
        assert {stored(i).send_attempts for i in ids} == {1}
        assert finished(worker, jobs.SEND_MESSAGE) <= 3  # the task, and one or two that shared its backlog
        assert finished(worker, jobs.CHECK_STATUSES) <= 3  # their status checks, a task per send task
        assert finished(worker, jobs.CHECK_STATUS) == 0
    finally:
        worker.stop()


def test_a_burst_of_webhooks_waits_in_one_task_and_each_event_is_processed_once(live_api, redis_server, tmp_path):
    make_twilio_tenant()
    twilio = SignedTwilio(current_app.test_client(), worker=None)  # posts only
    for n in range(20):
        assert twilio.post(payloads.twilio_sms(body=f"burst {n}", sender=f"+1555030{n:04d}")).status_code == 200

    # No worker yet: the first event queued a task, the other 19 saw it waiting.
    assert redis.Redis.from_url(redis_server.url).llen(jobs.WEBHOOKS) == 1
    worker = Worker(redis_url=redis_server.url, log=tmp_path / "prefork.log", pool="prefork")
    worker.start()
    try:
        wait_until(lambda: _count(Message) == 20, timeout=30, what="20 inbound messages stored")
        assert {event.state for event in db.session.scalars(sa.select(WebhookEvent))} == {"processed"}
        assert set(db.session.scalars(sa.select(WebhookEvent.attempts))) == {1}
        # A few tasks, not one per event: the task, and the successors that shared its backlog.
        assert finished(worker, jobs.PROCESS_WEBHOOK) <= 5
    finally:
        worker.stop()


def _count(model) -> int:
    db.session.rollback()  # a fresh snapshot: the worker commits in another process
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_number_that_keeps_failing_transiently_is_retried_by_the_worker_then_failed(live_api, worker):
    api = staff_api("simulator")

    data = send(api, "+15550100001")  # the simulator's network-error number

    message = status_becomes(data["message"]["id"], "failed")
    assert message.send_attempts == Config.SEND_MAX_ATTEMPTS  # each one queued again after a backoff
    assert message.error_code == "network"


def test_twilio_answering_503_is_retried_and_the_mms_goes_out_once_with_every_picture(live_api, worker, fake_twilio):
    api = staff_api("twilio")
    fake_twilio.answers = [(503, {"code": 20500, "message": "Internal Server Error", "status": 503})]
    photos = ["https://cdn.example.test/1.jpg", "https://cdn.example.test/2.jpg"]

    data = send(api, "+15550109999", media_urls=photos)

    message = status_becomes(data["message"]["id"], "sent")
    assert message.send_attempts == 2
    assert len(fake_twilio.sends()) == 2  # the 503, then the one that went out
    form = fake_twilio.sends()[-1]["form"]
    assert form["MediaUrl"] == photos
    assert form["To"] == ["+15550109999"]
    assert form["StatusCallback"] == [f"https://api.example.test/webhooks/twilio?ref={message.id}"]


def test_with_redis_down_the_api_still_accepts_and_the_sweeper_sends_it_once_redis_is_back(
    live_api, worker, redis_server, fake_twilio
):
    api = staff_api("twilio")
    redis_server.stop()

    started = time.monotonic()
    data = send(api, "+15550109999")
    answered_in = time.monotonic() - started

    assert data["status"] == "pending"
    assert answered_in < 5
    redis_server.start()
    broker_pause_over()
    time.sleep(1.1)  # the worker's SWEEP_GRACE_SECONDS
    assert enqueue(jobs.SWEEP_UNSENT)  # what the beat does every 15 seconds

    message = status_becomes(data["message"]["id"], "sent", timeout=30)
    assert len(fake_twilio.sends()) == 1
    assert message.send_attempts == 1


def test_redis_stopping_while_twilio_is_answering_still_sends_the_message_exactly_once(
    live_api, worker, redis_server, fake_twilio
):
    api = staff_api("twilio")
    fake_twilio.hold()
    data = send(api, "+15550109999")
    message_id = data["message"]["id"]
    assert fake_twilio.arrived.wait(15), "the worker never called Twilio"

    redis_server.stop()  # mid-send: the worker's ack, and anything it enqueues, has nowhere to go
    fake_twilio.release()
    tenant_id = status_becomes(message_id, "sent").tenant_id
    redis_server.start()
    broker_pause_over()
    # Had Redis kept its data, the unacknowledged task would come back: deliver it again as that
    # redelivery would, and let the sweeper look for anything unsent.
    assert enqueue(jobs.SEND_MESSAGE, tenant_id, message_id)
    assert enqueue(jobs.SWEEP_UNSENT)
    wait_until(lambda: finished(worker, jobs.SWEEP_UNSENT), timeout=30, what="the worker to be back and sweep")

    assert finished(worker, jobs.SEND_MESSAGE, "{'skipped': 1}") == 1
    assert len(fake_twilio.sends()) == 1
    message = stored(message_id)
    assert (message.delivery_status, message.send_attempts) == ("sent", 1)
    assert message.provider_message_id.startswith("SM")


def test_the_worker_survives_redis_stopping_while_it_holds_unacknowledged_sends(
    live_api, redis_server, fake_twilio, tmp_path
):
    """kombu 5.7's restore of unacknowledged tasks on a lost connection raised AttributeError and
    killed the worker (issue 10): it must ride the outage out and send everything, once."""
    worker = Worker(
        redis_url=redis_server.url, log=tmp_path / "prefork.log", pool="prefork", TWILIO_API_BASE_URL=fake_twilio.url
    )
    worker.start()
    try:
        api = staff_api("twilio")
        fake_twilio.hold()
        ids = [send(api, f"+1555010{index:04d}", message=f"held {index}")["message"]["id"] for index in range(6)]
        assert fake_twilio.arrived.wait(15), "the worker never called Twilio"

        redis_server.stop()
        fake_twilio.release()
        time.sleep(5)  # the worker notices the lost connection and closes its channel
        assert worker.process.poll() is None, worker.output()[-4000:]
        redis_server.start()
        broker_pause_over()

        def all_sent_as_beat_sweeps() -> bool:  # beat sends the sweep every 15 s; here every 2
            enqueue(jobs.SWEEP_UNSENT)
            return all(stored(message_id).delivery_status == "sent" for message_id in ids)

        wait_until(all_sent_as_beat_sweeps, timeout=60, interval=2, what="every held message to be sent")
        assert worker.process.poll() is None
        assert sorted(len(fake_twilio.bodies(f"held {index}")) for index in range(6)) == [1] * 6
    finally:
        worker.stop()
        print(worker.output()[-8000:])  # shown when the test fails
