"""Push notifications through a real Celery worker to the APNs stand-in (HTTP/2, TLS, JWT checked).

1. Throughput: N `push.send` tasks (an inbound alert to a user with one iPhone: badge query,
   message load, HTTP/2 POST) through ONE worker process consuming the `push` queue.
2. Latency: a signed Twilio inbound SMS posted to the webhook (in-process Flask app, as gunicorn
   would run it), processed by one worker consuming `webhooks,push`, until the push
   reaches the stand-in; p50/p99. The coalescing window is set to 0 here so the figure is the
   pipeline's own cost; in production the first message of a burst waits PUSH_COALESCE_SECONDS (3 s).

    .venv/bin/python bench/push.py [--pushes 1000] [--webhooks 200]

Uses (and empties) the database `conversations_push_bench` (or BENCH_DATABASE_URL) and the Redis
database BENCH_REDIS_URL (default redis://127.0.0.1:6379/4).
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/conversations_push_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
ACCOUNT_SID, AUTH_TOKEN, NUMBER = "AC" + "c" * 32, "bench-auth-token", "+15550008888"
IOS_TOKEN = "f" * 64


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pushes", type=int, default=1000)
    parser.add_argument("--webhooks", type=int, default=200)
    options = parser.parse_args()

    from tests.push.standins import KEY_ID, TEAM_ID, TOPIC, ApnsStandIn

    scratch = Path(tempfile.mkdtemp(prefix="push-bench-"))
    worker_log = scratch / "worker.log"
    apns = ApnsStandIn(scratch).start()
    os.environ.update(
        {
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "PUBLIC_BASE_URL": "https://bench.example",
            "LOG_LEVEL": "WARNING",
            "APNS_AUTH_KEY": apns.auth_key_pem,
            "APNS_KEY_ID": KEY_ID,
            "APNS_TEAM_ID": TEAM_ID,
            "APNS_TOPIC": TOPIC,
            "APNS_BASE_URL": apns.base_url,
            "APNS_CA_FILE": str(apns.ca_file),
            "PUSH_COALESCE_SECONDS": "0",
        }
    )
    from tests.services import ensure_database  # imports config: only now that the environment is set

    ensure_database(DATABASE_URL)

    import redis
    import sqlalchemy as sa
    from flask_migrate import upgrade
    from twilio.request_validator import RequestValidator

    from app import create_app, jobs
    from app.celery import enqueue
    from app.extensions import db
    from app.models import Message
    from app.services import accounts, contacts, devices, inbound, settings
    from config import Config

    app = create_app(Config())
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        tenant = accounts.create_tenant("Push bench")
        user = accounts.create_user(tenant, email="bench@example.test", name="Bench", role="admin", password="x")
        settings.update_messaging_settings(
            tenant,
            {
                "sms_provider": "twilio",
                "twilio_account_sid": ACCOUNT_SID,
                "twilio_auth_token": AUTH_TOKEN,
                "twilio_phone_number": NUMBER,
            },
        )
        devices.register_device(user, None, token=IOS_TOKEN, platform="ios", environment="production")
        contact = contacts.resolve_contact(tenant, phone="+14155550000")
        conversation, message = inbound.record_inbound(tenant, channel="sms", body="warm-up", contact=contact)
        tenant_id, user_id, conversation_id, message_id = tenant.id, user.id, conversation.id, message.id
        db.session.remove()
    redis.Redis.from_url(REDIS_URL).flushdb()  # the warm-up's own push task: not part of the count

    def worker(queues: str, concurrency: int) -> subprocess.Popen:
        with worker_log.open("a") as log:
            return subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                [sys.executable, "-m", "celery", "-A", "celery_worker.celery", "worker", "-Q", queues,
                 f"--concurrency={concurrency}", "--loglevel=WARNING", "--without-gossip", "--without-mingle"],
                cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
            )  # fmt: skip

    def wait_for(count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(apns.requests) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(apns.requests)} of {count} pushes arrived; see {worker_log}")
            time.sleep(0.001)

    def stop(process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)

    # 1. Throughput through one worker process.
    with app.app_context():
        for _ in range(options.pushes):
            enqueue(jobs.PUSH_SEND, tenant_id, user_id, "inbound", conversation_id, message_id)
    apns.reset()
    process = worker(jobs.PUSH, 1)
    try:
        wait_for(1, 60)
        started = time.time()
        first_at = apns.requests[0]["at"]
        wait_for(options.pushes, 600)
        last_at = apns.requests[-1]["at"]
    finally:
        stop(process)
    rejected = sum(1 for request in apns.requests if request["status"] != 200)
    rate = (options.pushes - 1) / (last_at - first_at)
    print(
        f"throughput: {options.pushes} pushes, one worker process (-Q push, concurrency 1): {rate:.0f} "
        f"notifications/s ({rejected} refused by the stand-in; {time.time() - started:.1f} s)"
    )

    # 2. Signed webhook -> worker -> push leaving.
    validator = RequestValidator(AUTH_TOKEN)
    client = app.test_client()
    apns.reset()
    process = worker(f"{jobs.WEBHOOKS},{jobs.PUSH}", 2)
    latencies = []
    try:
        time.sleep(3)  # the worker's pool is up
        for index in range(options.webhooks):
            params = {
                "AccountSid": ACCOUNT_SID,
                "MessageSid": f"SM{index:032x}",
                "SmsSid": f"SM{index:032x}",
                "From": f"+1415555{index % 10000:04d}",
                "To": NUMBER,
                "Body": f"Bench message {index}",
                "NumMedia": "0",
            }
            signature = validator.compute_signature("https://bench.example/webhooks/twilio", params)
            before = len(apns.requests)
            posted = time.time()
            response = client.post("/webhooks/twilio", data=params, headers={"X-Twilio-Signature": signature})
            assert response.status_code == 200, response.data
            wait_for(before + 1, 30)
            latencies.append((apns.requests[before]["at"] - posted) * 1000)
    finally:
        stop(process)
    with app.app_context():
        stored = db.session.scalar(sa.select(sa.func.count(Message.id)))
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"webhook -> push: {len(latencies)} signed inbound SMS ({stored} messages stored): "
          f"p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms")  # fmt: skip
    apns.stop()


if __name__ == "__main__":
    main()
