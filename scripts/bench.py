"""Latency of the hot paths on PostgreSQL, measured in-process (no network): what the app itself costs.

Sends and webhook processing are not run by a worker here (no broker, tasks not imported): the
send measures the API's part (validate, store pending, commit); the webhook is measured receiving
(verify, store) and, separately, processing each stored event as the worker would.

    .venv/bin/python scripts/bench.py [--conversations 2000] [--messages-per-conversation 10] [--requests 200]

Uses (and empties) the database `conversations_bench` on the local PostgreSQL, or BENCH_DATABASE_URL.
Prints p50/p95/max per operation in milliseconds.
"""

import argparse
import logging
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Contact, Conversation, Message, WebhookEvent  # noqa: E402
from app.models.base import utcnow  # noqa: E402
from app.services import accounts, settings, webhook_events  # noqa: E402
from config import Config, database_url  # noqa: E402
from tests.services import ensure_database  # noqa: E402

URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/conversations_bench")
ACCOUNT_SID, AUTH_TOKEN, NUMBER = "AC" + "b" * 32, "bench-auth-token", "+15550009999"


class BenchConfig(Config):
    SQLALCHEMY_DATABASE_URI = database_url(URL)
    REDIS_URL = None
    PUBLIC_BASE_URL = "https://bench.example"
    LOGIN_RATE_LIMIT = "1000000 per minute"
    LOG_LEVEL = "WARNING"


def seed(conversations: int, per_conversation: int):
    tenant = accounts.create_tenant("Bench")
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
    now = utcnow()
    for index in range(conversations):
        contact = Contact(tenant_id=tenant.id, first_name=f"Name{index}", last_name="Bench", phone=f"+1555{index:07d}")
        db.session.add(contact)
        db.session.flush()
        conversation = Conversation(
            tenant_id=tenant.id, channel="sms", status="open", contact_id=contact.id, phone_number=contact.phone
        )
        conversation.meta = {}
        db.session.add(conversation)
        db.session.flush()
        last = None
        for number in range(per_conversation):
            last = Message(
                tenant_id=tenant.id,
                conversation_id=conversation.id,
                sender_type="visitor",
                body=f"message {number}",
                channel="sms",
                direction="inbound" if number % 2 == 0 else "outbound",
                delivery_status="delivered",
                attachments=[],
                read_at=now if number < per_conversation - 1 else None,
            )
            db.session.add(last)
        db.session.flush()
        conversation.last_message_id, conversation.last_message_at = last.id, now
        if index % 200 == 0:
            db.session.commit()
    db.session.commit()
    return tenant, accounts.issue_token(user, "bench")


def measure(name: str, runs: int, call) -> None:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = call()
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code < 300, (name, response.status_code, response.get_data(as_text=True)[:300])
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(f"{name:<44} p50 {statistics.median(timings):7.2f} ms   p95 {p95:7.2f} ms   max {timings[-1]:7.2f} ms")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--messages-per-conversation", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    logging.getLogger("app.celery").setLevel(logging.ERROR)  # "task not registered": on purpose here
    ensure_database(database_url(URL))
    app = create_app(BenchConfig())
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        started = time.perf_counter()
        tenant, token = seed(args.conversations, args.messages_per_conversation)
        total = args.conversations * args.messages_per_conversation
        print(f"seeded {args.conversations} conversations, {total} messages in {time.perf_counter() - started:.1f} s")
        conversation_id = db.session.scalar(sa.select(sa.func.max(Conversation.id)))

    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    runs = args.requests
    measure("GET /conversations (limit 50)", runs, lambda: client.get("/api/v1/conversations", headers=auth))
    measure(
        "GET /conversations?search=Name1999",
        runs,
        lambda: client.get("/api/v1/conversations?search=Name1999", headers=auth),
    )
    measure("GET /conversations/unread", runs, lambda: client.get("/api/v1/conversations/unread", headers=auth))
    measure(
        "GET /conversations/:id/messages",
        runs,
        lambda: client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=auth),
    )
    measure(
        "POST /conversations/send (sms, queued)",
        runs,
        lambda: client.post(
            "/api/v1/conversations/send",
            headers=auth,
            json={"phone": f"+1666{uuid.uuid4().int % 10**7:07d}", "message": "Hi", "channel": "sms"},
        ),
    )

    validator = RequestValidator(AUTH_TOKEN)

    def inbound_sms():
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": ACCOUNT_SID,
            "From": f"+1777{uuid.uuid4().int % 10**7:07d}",
            "To": NUMBER,
            "Body": "Is my order ready?",
            "NumMedia": "0",
            "SmsStatus": "received",
        }
        signature = validator.compute_signature("https://bench.example/webhooks/twilio", params)
        return client.post("/webhooks/twilio", data=params, headers={"X-Twilio-Signature": signature})

    measure("POST /webhooks/twilio (inbound SMS, stored)", runs, inbound_sms)

    # What the worker then does with each stored event: contact, conversation, message, opt-out check.
    with app.app_context():
        event_ids = iter(db.session.scalars(sa.select(WebhookEvent.id).order_by(WebhookEvent.id)).all())

        class Done:
            status_code = 200

        def process_one():
            webhook_events.process_event(next(event_ids))
            return Done

        measure("process inbound SMS event (worker side)", runs, process_one)


if __name__ == "__main__":
    main()
