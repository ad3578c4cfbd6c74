#!/usr/bin/env python
"""CPU per request and per sent message, in-process: steadier than latency on a shared machine.

    python bench/cpu.py                 # 3 rounds of 200 requests per endpoint, 200 sends drained
    python bench/cpu.py --rounds 5 --requests 300

HTTP latency (bench/inbox.py) moves with whatever else the machine runs; the CPU this process
spends does much less, so this is the figure to compare two commits by (run it from a worktree of
each). It recreates the database `conversations_cpu_bench` (or BENCH_DATABASE_URL) on the local
PostgreSQL, starts a private redis-server (sends queue their task there, as in production; nothing
consumes it), makes a simulator tenant with 60 conversations, and times, with `time.process_time`,
requests through Flask's test client (the app, the ORM and psycopg; not gunicorn), a signed Twilio
inbound-message webhook (for a second tenant), and the worker's `send_due_messages` on the sends
it queued, then `check_statuses` on what it sent (the simulator's delivery report, which a send
task queues). Prints the CPU in ms per request (per message for the worker), each round and the
lowest. Run inside the project's virtualenv.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from procfile import ROOT, Redis, in_process_env, log, recreate_database
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(ROOT))  # the app, in this process

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/conversations_cpu_bench")
CONVERSATIONS = 60
PUBLIC_URL = "http://127.0.0.1:9"  # what Twilio signs: never called
ACCOUNT_SID, AUTH_TOKEN, OUR_NUMBER = "AC" + "c" * 32, "cpu-bench-auth-token-0123456789", "+12025550100"


class Client:
    def __init__(self, app, token: str):
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}
        self.numbers = iter(range(5_550_000, 9_999_999))

    def get(self, path: str) -> None:
        answer = self.client.get(path, headers=self.headers)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path}: {answer.status_code} {answer.get_data(as_text=True)[:300]}")

    def send(self) -> None:
        # A new number each time, never ending in 0000-0002 (the simulator's failure numbers).
        number = next(number for number in self.numbers if number % 10_000 > 2)
        body = {"phone": f"+1415{number:07d}", "message": "CPU bench.", "channel": "sms"}
        answer = self.client.post("/api/v1/conversations/send", headers=self.headers, json=body)
        if answer.status_code != 201:
            raise RuntimeError(f"send: {answer.status_code} {answer.get_data(as_text=True)[:300]}")

    def inbound_webhook(self) -> None:
        """A customer's SMS as Twilio posts it, signed, from one of a few numbers."""
        number = next(self.numbers)
        form = {
            "MessageSid": f"SM{uuid.uuid4().hex}",
            "AccountSid": ACCOUNT_SID,
            "From": f"+1415555{number % 100:04d}",
            "To": OUR_NUMBER,
            "Body": "Is my order ready?",
            "NumMedia": "0",
            "SmsStatus": "received",
        }
        signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC_URL}/webhooks/twilio", form)
        answer = self.client.post("/webhooks/twilio", data=form, headers={"X-Twilio-Signature": signature})
        if answer.status_code != 200:
            raise RuntimeError(f"webhook: {answer.status_code} {answer.get_data(as_text=True)[:300]}")


def cpu_ms(work, count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        work()
    return (time.process_time() - started) * 1000 / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="requests per endpoint per round")
    options = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="cpu-bench-"))
    redis_server = Redis(base)
    try:
        redis_server.start()
        env = in_process_env(DATABASE_URL, redis_server.url, PUBLIC_URL)
        recreate_database(DATABASE_URL, env)
        os.environ.update(env)  # before the app's config is imported
        from app import create_app
        from app.services import accounts, delivery, settings
        from config import Config

        app = create_app(Config())
        with app.app_context():
            tenant = accounts.create_tenant("CPU bench")
            user = accounts.create_user(tenant, email="cpu@bench.test", name="CPU", role="admin")
            settings.update_messaging_settings(tenant, {"sms_provider": "simulator"})
            tenant_id, token = tenant.id, accounts.issue_token(user, "bench")
            twilio_tenant = accounts.create_tenant("CPU bench, Twilio")
            accounts.create_user(twilio_tenant, email="cpu@twilio.test", name="CPU", role="admin")
            twilio = {"twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN}
            settings.update_messaging_settings(
                twilio_tenant, {"sms_provider": "twilio", **twilio, "twilio_phone_number": OUR_NUMBER}
            )
        client = Client(app, token)

        def drain() -> int:
            with app.app_context():
                return sum(delivery.send_due_messages(tenant_id, None).values())

        def sent_ids() -> list[int]:
            with psycopg.connect(DATABASE_URL) as conn:
                rows = conn.execute(
                    "SELECT id FROM messages WHERE tenant_id = %s AND delivery_status = 'sent'", (tenant_id,)
                )
                return [message_id for (message_id,) in rows]

        def check_statuses(message_ids: list[int]) -> None:
            with app.app_context():
                delivery.check_statuses(tenant_id, message_ids)

        for _ in range(CONVERSATIONS):
            client.send()
        drain()
        with psycopg.connect(DATABASE_URL) as conn:
            newest = conn.execute("SELECT max(id) FROM conversations WHERE tenant_id = %s", (tenant_id,))
            conversation = newest.fetchone()[0]
        api = "/api/v1/conversations"
        work = {
            "list (50 conversations)": lambda: client.get(f"{api}?limit=50"),
            "unread": lambda: client.get(f"{api}/unread"),
            "get conversation": lambda: client.get(f"{api}/{conversation}"),
            "send to a new number": client.send,
            "Twilio inbound webhook": client.inbound_webhook,
        }
        worker = ["worker, per message sent", "worker, status check per message"]
        figures: dict[str, list[float]] = {name: [] for name in [*work, *worker]}
        for call in work.values():  # warm up: first compiles, caches, pool
            for _ in range(20):
                call()
        drain()
        check_statuses(sent_ids())
        for round_ in range(1, options.rounds + 1):
            for name, call in work.items():
                figures[name].append(cpu_ms(call, options.requests))
            started = time.process_time()
            drained = drain()  # what the rounds' sends queued
            figures["worker, per message sent"].append((time.process_time() - started) * 1000 / max(drained, 1))
            checked = sent_ids()
            started = time.process_time()
            check_statuses(checked)
            figures["worker, status check per message"].append((time.process_time() - started) * 1000 / len(checked))
            log(f"round {round_}: " + ", ".join(f"{name} {values[-1]:.2f}" for name, values in figures.items()))
        print(f"\nCPU ms per request (worker: per message), {options.rounds} rounds of {options.requests}:")
        print("| | lowest | rounds |\n|---|---|---|")
        for name, values in figures.items():
            print(f"| {name} | {min(values):.2f} | {' / '.join(f'{v:.2f}' for v in values)} |")
        return 0
    finally:
        with contextlib.suppress(Exception):
            redis_server.kill()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
