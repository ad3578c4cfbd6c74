#!/usr/bin/env python
"""Instructions the app executes per send, per delivered message and per read, counted by valgrind: a figure
that does not drift with the machine.

    python bench/instructions.py               # about 6 minutes on 2 cores; needs valgrind
    python bench/instructions.py --only list,thread

CPU time on this machine drifts by a third within minutes (bench/RESULTS.md), so a change worth a
tenth of a send cannot be seen in it, not even alternating two commits. callgrind counts the
instructions one process executes; the same work counts the same within a percent or two, busy
machine or not. It counts the app's process only: not PostgreSQL, Redis or the kernel (syscalls,
the network), nor what gunicorn and Celery add around a request or a task (bench/inbox.py measures
those, from outside).

It recreates the database `conversations_instructions_bench` (or BENCH_DATABASE_URL), starts a
private redis-server (sends queue their task there, as in production; nothing consumes it), and
runs this script's --child mode under callgrind, each run with 20 warm-up messages and then 10 or
50 measured ones: the difference of the two runs, divided by 40, is the cost of one message, with
the start-up, the imports and the warm-up cancelled out. Two figures:

- a send to a new number: POST /api/v1/conversations/send through Flask's test client (the app,
  the ORM and psycopg; not gunicorn);
- the same with its delivery: the sends, then the worker's send_due_messages on them (simulator),
  then check_statuses on what it sent (the simulator's delivery report, which a send task queues);
- reads, each request through the test client on an inbox of 60 delivered conversations, one with
  a thread of 60 messages: a 50-conversation inbox page, a 50-message page of that thread, that
  conversation with its 50 newest messages, the unread badges.

Compare two commits by running it from a worktree of each. Run inside the project's virtualenv.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from procfile import ROOT, Redis, in_process_env, log, recreate_database

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/conversations_instructions_bench"
)
WARM_UP, FEW, MANY = 20, 10, 50
WORK = {
    "send": "send to a new number",
    "delivery": "send with its delivery and status check",
    "list": "GET a 50-conversation inbox page",
    "thread": "GET a 50-message page of a thread",
    "conversation": "GET a conversation with its 50 newest messages",
    "unread": "GET the unread badges",
}
READS = {  # request -> its path, given the conversation with the long thread
    "list": lambda conversation: "/api/v1/conversations?limit=50",
    "thread": lambda conversation: f"/api/v1/conversations/{conversation}/messages?limit=50",
    "conversation": lambda conversation: f"/api/v1/conversations/{conversation}",
    "unread": lambda conversation: "/api/v1/conversations/unread",
}


def child(work: str, count: int) -> None:
    """The measured process: WARM_UP messages, then `count` more (sent, or sent and delivered); or,
    for a read, WARM_UP requests on an inbox of 60 delivered conversations, then `count` more."""
    sys.path.insert(0, str(ROOT))
    import psycopg

    from app import create_app
    from app.services import accounts, delivery, settings

    app = create_app()
    with app.app_context():
        tenant = accounts.create_tenant("Instructions bench")
        user = accounts.create_user(tenant, email=f"{uuid.uuid4().hex}@bench.test", name="Bench", role="admin")
        settings.update_messaging_settings(tenant, {"sms_provider": "simulator"})
        tenant_id, token = tenant.id, accounts.issue_token(user, "bench")
    client, headers = app.test_client(), {"Authorization": f"Bearer {token}"}
    # New numbers, none ending in 0000-0002 (the simulator's failure numbers).
    numbers = (number for number in itertools.count(tenant_id * 1_000) if number % 10_000 > 2)

    def send(times: int, to: int | None = None) -> dict:
        """`times` sends to new numbers, or all to the number `to`; the last one's answer."""
        for number in [to] * times if to else (next(numbers) for _ in range(times)):
            body = {"phone": f"+1415{number % 10_000_000:07d}", "message": "Your order is ready.", "channel": "sms"}
            answer = client.post("/api/v1/conversations/send", headers=headers, json=body)
            if answer.status_code != 201:
                raise RuntimeError(f"send: {answer.status_code} {answer.get_data(as_text=True)[:300]}")
        return answer.get_json()["data"]

    def get(path: str, times: int) -> None:
        for _ in range(times):
            answer = client.get(path, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"GET {path}: {answer.status_code} {answer.get_data(as_text=True)[:300]}")

    def deliver() -> None:
        with app.app_context():
            delivery.send_due_messages(tenant_id, None)
        with psycopg.connect(DATABASE_URL) as conn:
            sent = conn.execute(
                "SELECT id FROM messages WHERE tenant_id = %s AND delivery_status = 'sent'", (tenant_id,)
            ).fetchall()
        with app.app_context():
            delivery.check_statuses(tenant_id, [message_id for (message_id,) in sent])

    if work in READS:  # 60 conversations, one of them with a 60-message thread, all delivered
        send(59)
        path = READS[work](send(60, next(numbers))["conversation"]["id"])
        deliver()
        get(path, WARM_UP)
        get(path, count)
        return
    send(WARM_UP)
    deliver()
    send(count)
    if work == "delivery":
        deliver()


def instructions(work: str, count: int, env: dict) -> int:
    done = subprocess.run(  # noqa: S603
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
        + ["--child", work, str(count)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    collected = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or collected is None:
        raise RuntimeError(f"{work} x{count} under callgrind failed:\n{done.stderr[-3000:]}")
    return int(collected.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=2, metavar=("WORK", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(WORK)}")
    options = parser.parse_args()
    if options.child:
        child(options.child[0], int(options.child[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2

    base = Path(tempfile.mkdtemp(prefix="instructions-bench-"))
    redis_server = Redis(base)
    try:
        redis_server.start()
        env = in_process_env(DATABASE_URL, redis_server.url, "http://127.0.0.1:9")
        # Under valgrind a request takes a second or more: pinging connections idle that long would
        # make the count depend on the machine's speed (a ping per request on a busy machine).
        env["DATABASE_PING_AFTER_IDLE_SECONDS"] = "3600"
        env["BENCH_DATABASE_URL"] = DATABASE_URL  # the child's own connections, to the same database
        recreate_database(DATABASE_URL, env)
        print("| per message or request | instructions |\n|---|---|")
        for work, what in WORK.items():
            if options.only and work not in options.only.split(","):
                continue
            with ThreadPoolExecutor(2) as pool:  # each run is one process: the two cores run both
                few, many = pool.map(lambda count, work=work: instructions(work, count, env), (FEW, MANY))
            print(f"| {what} | {(many - few) / (MANY - FEW) / 1e6:.2f} M |", flush=True)
        log("done")
        return 0
    finally:
        redis_server.kill()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
