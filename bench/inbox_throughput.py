"""Outbound throughput through the Procfile's web, worker and beat, to the simulator provider.

1. End to end: N sends (POST /api/v1/conversations/send, each to a new number) from several client
   threads, from the first request until the last message is `sent` in the database, after a
   warm-up of WARM_UP sends (a running service is warm: its first requests pay the processes'
   start-up), with the CPU seconds spent meanwhile by each process group (web, worker with its
   pool children, beat), by PostgreSQL (every `postgres` process), by the private Redis, by this
   process (the load generator) and by the whole machine (all of it comes out of the same cores).
2. The API alone (worker stopped): the request rate; then the worker started on that backlog: its
   drain rate, from its first send to its last.
3. SQL statements per send, captured in-process: the API's request, then the worker's
   `send_pending_message` for that message.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import inbox_sql
import psycopg
from procfile import log, wait_for

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP = 100


def cpu_snapshot() -> dict:
    """CPU ticks (user + system) so far of every live process, by pid with its name and process
    group; this process's CPU seconds; and the machine's busy ticks (every core: what sends compete for)."""
    processes = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue  # ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        processes[int(entry)] = (
            stat[stat.index("(") + 1 : stat.rindex(")")],
            int(fields[2]),
            int(fields[11]) + int(fields[12]),
        )
    with open("/proc/stat") as handle:
        user, nice, system, idle, iowait, *busy = (int(value) for value in handle.readline().split()[1:9])
    return {"processes": processes, "this process": time.process_time(), "machine": user + nice + system + sum(busy)}


def cpu_spent(before: dict, after: dict, groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds between two snapshots: of each process group (a gunicorn or celery tree, a
    redis-server), of PostgreSQL (every `postgres` process), of this process and of the machine. A
    process that ended in between is not counted (its ticks went with it); one that started counts whole."""
    processes = after["processes"]

    def seconds(pids) -> float:
        return sum(processes[pid][2] - before["processes"].get(pid, ("", 0, 0))[2] for pid in pids) / CLOCK_TICKS

    spent = {
        name: seconds(pid for pid, (_, group, _) in processes.items() if group == leader)
        for name, leader in groups.items()
    }
    spent["PostgreSQL"] = seconds(pid for pid, (command, _, _) in processes.items() if command == "postgres")
    spent["load generator (this process)"] = after["this process"] - before["this process"]
    spent["machine, all cores"] = (after["machine"] - before["machine"]) / CLOCK_TICKS
    return spent


class Sender:
    """The load: sends from client threads, each on its own keep-alive connection. Plain http.client,
    not requests: the load generator shares the machine's two cores with the service, and requests
    spent about twice the CPU per send."""

    def __init__(self, bench, token: str, threads: int):
        self.address = urlsplit(bench.public_url).netloc
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.threads = threads
        self.local = threading.local()
        self.next_number = 0
        self.lock = threading.Lock()

    def phone(self) -> str:
        # New numbers, never ending in 0000-0002 (the simulator's failure numbers).
        with self.lock:
            while True:
                self.next_number += 1
                line = 5_000_000 + self.next_number
                if line % 10_000 > 2:
                    return f"+1415{line:07d}"

    def connection(self) -> http.client.HTTPConnection:
        if not hasattr(self.local, "connection"):  # the pool's threads are new for each batch
            self.local.connection = http.client.HTTPConnection(self.address, timeout=60)
        return self.local.connection

    def send_one(self, _index: int) -> float:
        began = time.perf_counter()
        body = json.dumps({"phone": self.phone(), "message": "Your order is ready.", "channel": "sms"})
        connection = self.connection()
        connection.request("POST", "/api/v1/conversations/send", body=body, headers=self.headers)
        answer = connection.getresponse()
        text = answer.read()
        if answer.status != 201:
            raise RuntimeError(f"send: {answer.status} {text[:300]!r}")
        return (time.perf_counter() - began) * 1000

    def send(self, count: int) -> tuple[float, float, list[float]]:
        """(wall-clock start, end, latencies in ms) of `count` sends from the client threads."""
        started = time.time()
        with ThreadPoolExecutor(self.threads) as pool:
            latencies = list(pool.map(self.send_one, range(count)))
        return started, time.time(), latencies


def wait_sent(database_url: str, tenant_id: int, count: int, timeout: float) -> tuple[float, float]:
    """(first, last) sent_at as epoch seconds, once `count` of the tenant's messages are sent or beyond."""
    query = (
        "SELECT count(*), extract(epoch FROM min(sent_at)), extract(epoch FROM max(sent_at)) FROM messages"
        " WHERE tenant_id = %s AND direction = 'outbound' AND delivery_status IN ('sent', 'delivered', 'read')"
    )
    with psycopg.connect(database_url, autocommit=True) as conn:

        def done():
            row = conn.execute(query, (tenant_id,)).fetchone()
            return (float(row[1]), float(row[2])) if row[0] >= count else None

        return wait_for(done, timeout=timeout, interval=0.2, what=f"{count} sends to reach `sent`")


def wait_webhooks_processed(bench, timeout: float) -> None:
    query = "SELECT count(*) FROM webhook_events WHERE state IN ('received', 'processing')"
    with psycopg.connect(bench.env["DATABASE_URL"], autocommit=True) as conn:

        def done() -> bool:
            return bench.redis.queued("webhooks") == 0 and conn.execute(query).fetchone()[0] == 0

        wait_for(done, timeout=timeout, interval=0.5, what="the webhooks' tasks")


def send_task_runs(worker) -> tuple[int, int]:
    """(send tasks the worker ran since it started, how many of them sent something): Celery's INFO lines."""
    finished = [line for line in worker.output().splitlines() if "messages.send[" in line and " succeeded " in line]
    return len(finished), sum("'sent'" in line for line in finished)


def task_runs(worker) -> Counter:
    """Tasks the worker finished since it started, by name (Celery's INFO lines)."""
    return Counter(re.findall(r"Task ([\w.]+)\[[^\]]+\] succeeded ", worker.output()))


def make_tenant(bench) -> dict:
    from app.services import accounts, settings

    with bench.app.app_context():
        tenant = accounts.create_tenant("Simulator tenant")
        user = accounts.create_user(tenant, email="sender@sim.test", name="Sender", role="admin")
        settings.update_messaging_settings(tenant, {"sms_provider": "simulator"})
        return {"id": tenant.id, "token": accounts.issue_token(user, "bench")}


def statements_per_send(bench, tenant: dict) -> tuple[int, int]:
    from app.services import delivery

    client = bench.app.test_client()
    headers = {"Authorization": f"Bearer {tenant['token']}"}
    body = {"phone": "+14159999123", "message": "Captured send.", "channel": "sms"}
    answer, api = inbox_sql.capture(
        bench.app, lambda: client.post("/api/v1/conversations/send", headers=headers, json=body)
    )
    if answer.status_code != 201:
        raise RuntimeError(f"capture send: {answer.status_code} {answer.get_data(as_text=True)[:300]}")
    message_id = answer.get_json()["data"]["message"]["id"]

    def work():
        with bench.app.app_context():
            return delivery.send_pending_message(tenant["id"], message_id)

    _, worker = inbox_sql.capture(bench.app, work)
    return len(api), len(worker)


def run(bench, *, sends: int, threads: int) -> dict:
    database_url = bench.env["DATABASE_URL"]
    tenant = make_tenant(bench)
    api_statements, worker_statements = statements_per_send(bench, tenant)
    already_sent = 1  # the captured send
    bench.start_process("worker")
    bench.start_process("beat")
    time.sleep(5)  # beat's start-up (imports, schedule file) is not a cost of the sends
    # The latency part's webhooks wait in the queue (each request that found no task waiting queued
    # one): the worker takes them first, not during the sends.
    wait_webhooks_processed(bench, timeout=300)
    sender = Sender(bench, tenant["token"], threads)
    sender.send(WARM_UP)
    already_sent += WARM_UP
    wait_sent(database_url, tenant["id"], already_sent, timeout=120)
    groups = {name: bench.processes[name].process.pid for name in ("web", "worker", "beat")}
    groups["Redis"] = bench.redis.process.pid

    cpu_before, tasks_before = cpu_snapshot(), task_runs(bench.processes["worker"])
    started, _, _ = sender.send(sends)
    _, last_sent = wait_sent(database_url, tenant["id"], already_sent + sends, timeout=600)
    cpu = cpu_spent(cpu_before, cpu_snapshot(), groups)
    tasks = task_runs(bench.processes["worker"]) - tasks_before
    end_to_end = sends / (last_sent - started)
    log(f"  end to end: {sends} sends in {last_sent - started:.1f} s: {end_to_end:.1f} messages/s")

    # The API alone, then the worker alone on the backlog it left.
    bench.processes.pop("worker").stop()
    backlog = max(sends // 2, 1)
    api_started, api_ended, latencies = sender.send(backlog)
    drain_from = time.time()
    bench.start_process("worker")
    first, last = wait_sent(database_url, tenant["id"], already_sent + sends + backlog, timeout=600)
    with psycopg.connect(database_url) as conn:
        first = conn.execute(
            "SELECT extract(epoch FROM min(sent_at)) FROM messages"
            " WHERE tenant_id = %s AND sent_at >= to_timestamp(%s)",
            (tenant["id"], drain_from),
        ).fetchone()[0]
    drain = backlog / max(last - float(first), 1e-3)
    # A backlog older than SWEEP_REQUEUE_AFTER_SECONDS is queued again by beat's sweeper: more task runs than sends.
    drain_runs, drain_sent = send_task_runs(bench.processes["worker"])
    log(f"  API alone {backlog / (api_ended - api_started):.1f} requests/s; worker drains {drain:.1f} messages/s")
    return {
        "sends": sends,
        "threads": threads,
        "end_to_end_rate": end_to_end,
        "api_rate": backlog / (api_ended - api_started),
        "api_p50": statistics.median(latencies),
        "drain_rate": drain,
        "cpu_ms": {name: seconds * 1000 / sends for name, seconds in cpu.items()},
        "end_to_end_tasks": ", ".join(f"{count} {name}" for name, count in sorted(tasks.items())),
        "drain_task_runs": f"{drain_runs} send tasks run ({drain_sent} of them sent) for {backlog} queued sends",
        "api_statements": api_statements,
        "worker_statements": worker_statements,
    }
