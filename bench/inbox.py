#!/usr/bin/env python
"""The inbox at a million messages, measured from outside (issue 14).

    python bench/inbox.py                          # sizes 10k,100k,1m messages (about 4 minutes on 2 cores)
    python bench/inbox.py --sizes 10k,1m --sends 2000
    python bench/inbox.py --quick                  # small sizes and counts: a smoke run (about a minute)
    python bench/inbox.py --sizes 10k --env GUNICORN_CMD_ARGS='--workers 3'   # another configuration

For each size it recreates the database `conversations_inbox_bench` (or BENCH_DATABASE_URL) on the
local PostgreSQL, runs the Procfile's `release` line, makes the tenants through the app (Twilio
settings encrypted as in production), seeds one tenant with that many messages (bench/inbox_seed.py,
COPY) beside a 1,000-conversation tenant, runs `flask recount-unread` (the COPY bypasses the unread triggers), then
VACUUM ANALYZE. It starts the Procfile's `web` (gunicorn, production environment, a private
redis-server) and drives each endpoint from this process over loopback; captures the SQL one
request issues and replays it through psycopg (bench/inbox_sql.py). At the largest size it also
runs `worker` and `beat` and measures outbound sends to the simulator. Results go to
bench/RESULTS.md and the table is printed. Run inside the project's virtualenv.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import pickle
import re
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import inbox_report
import inbox_seed
import inbox_sql
import psycopg
import requests
from cryptography.fernet import Fernet
from inbox_seed import SeedSize
from procfile import (
    ROOT,
    Process,
    Redis,
    dyno_env,
    expand,
    free_port,
    log,
    procfile,
    recreate_database,
    run_flask,
    wait_for,
)
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(ROOT))  # the app, for the in-process capture

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/conversations_inbox_bench")
AUTH_TOKEN = "inbox-bench-auth-token-0123456789"
# Beside the measured tenant, always: one of the smallest size, on the same tables, measured in the
# same run against the largest (growth without the drift between runs minutes apart).
SMALL_TENANT = SeedSize.for_messages(10_000)


@dataclass
class BenchTenant:
    """A tenant the bench drives: its users, an admin's token, its Twilio number, its customers' phones."""

    id: int
    user_ids: list[int]
    token: str
    account_sid: str
    number: str
    phones: list[str] = field(default_factory=list)


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)", text.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text}")
    return int(float(match.group(1)) * {"": 1, "k": 1000, "m": 1_000_000}[match.group(2)])


class Bench:
    def __init__(self, options):
        self.options = options
        self.base = Path(tempfile.mkdtemp(prefix="inbox-bench-"))
        self.redis = Redis(self.base)
        self.web_port = free_port()
        self.public_url = f"http://127.0.0.1:{self.web_port}"
        self.env = dyno_env(
            PORT=str(self.web_port),
            DATABASE_URL=DATABASE_URL,
            REDIS_URL=self.redis.url,
            APP_ENV="production",
            ENCRYPTION_KEYS=Fernet.generate_key().decode(),
            REQUIRE_ENCRYPTION_KEYS="true",
            SECRET_KEY=uuid.uuid4().hex,
            PUBLIC_BASE_URL=self.public_url,
            PROXY_HOPS="0",
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
            CELERY_BEAT_SCHEDULE_FILE=str(self.base / "celerybeat-schedule"),
            # Nothing leaves the machine: a provider call the bench did not plan fails at once.
            TWILIO_API_BASE_URL="http://127.0.0.1:9",
            GHL_API_BASE_URL="http://127.0.0.1:9",
        )
        self.env |= dict(setting.split("=", 1) for setting in options.env)
        self.processes: dict[str, Process] = {}
        self.app = None

    # -- lifecycle
    def start(self) -> None:
        self.redis.start()
        os.environ.update(self.env)  # before the app's config is imported
        from app import create_app
        from config import Config

        self.reset_database()
        self.app = create_app(Config())

    def stop(self, *, keep_logs: bool = False) -> None:
        for process in self.processes.values():
            with contextlib.suppress(Exception):
                process.stop()
        with contextlib.suppress(Exception):
            self.redis.kill()
        if keep_logs:
            log(f"the processes' logs are kept in {self.base}")
        else:
            shutil.rmtree(self.base, ignore_errors=True)

    def start_process(self, name: str) -> Process:
        env = self.env
        if name in ("worker", "beat"):  # at INFO, the level every earlier run measured; " ready." is INFO
            env = env | {"LOG_LEVEL": "INFO"}
        argv = expand(procfile()[name], env)
        process = Process(name, argv, env, ROOT, self.base / f"{name}.log")
        process.start()
        self.processes[name] = process
        if name == "web":
            wait_for(lambda: requests.get(f"{self.public_url}/healthz", timeout=2).ok, timeout=60, what="gunicorn")
        if name == "worker":
            wait_for(lambda: " ready." in process.output(), timeout=90, what="the worker")
        return process

    def flask(self, *args: str) -> str:
        return run_flask(self.env, *args)

    def reset_database(self) -> None:
        recreate_database(DATABASE_URL, self.env)

    # -- the data
    def make_tenant(self, name: str, *, staff: int, account_sid: str, number: str) -> BenchTenant:
        from app.services import accounts, settings

        with self.app.app_context():
            tenant = accounts.create_tenant(name)
            users = [
                accounts.create_user(
                    tenant, email=f"staff{n}@{tenant.id}.test", name=f"Staff {n}", role="admin" if n == 0 else "staff"
                )
                for n in range(staff)
            ]
            twilio = {"twilio_account_sid": account_sid, "twilio_auth_token": AUTH_TOKEN, "twilio_phone_number": number}
            settings.update_messaging_settings(tenant, {"sms_provider": "twilio", **twilio})
            return BenchTenant(
                tenant.id, [u.id for u in users], accounts.issue_token(users[0], "bench"), account_sid, number
            )

    def seed(self, messages: int) -> tuple[dict[str, BenchTenant], float]:
        started = time.perf_counter()
        self.reset_database()
        tenants = {
            "big": self.make_tenant("Inbox bench", staff=5, account_sid="AC" + "e" * 32, number="+12025550100"),
            "small": self.make_tenant("Small tenant", staff=1, account_sid="AC" + "d" * 32, number="+12025550101"),
        }
        now = time.time()
        with psycopg.connect(DATABASE_URL) as conn:
            sizes = {"big": SeedSize.for_messages(messages), "small": SMALL_TENANT}
            seeded = {
                name: inbox_seed.seed_tenant(
                    conn, tenant_id=tenants[name].id, size=size, user_ids=tenants[name].user_ids, now=now
                )
                for name, size in sizes.items()
            }
            conn.commit()
        for name, tenant in tenants.items():
            tenant.phones = seeded[name].phones
        self.flask("recount-unread")  # the COPY ran with triggers off (session_replication_role=replica)
        with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        seconds = time.perf_counter() - started
        log(
            f"seeded {seeded['big'].messages:,} messages ({seeded['big'].unread:,} unread)"
            f" in {seeded['big'].conversations:,} conversations: {seconds:.0f} s"
        )
        return tenants, seconds


def targets(tenant: BenchTenant, count: int) -> dict:
    """The ids the requests name: a long recent thread, stored outbound messages for status callbacks."""
    with psycopg.connect(DATABASE_URL) as conn:
        # A thread of the same length at every size (the seeder makes one), long enough for a second page.
        conversation = conn.execute(
            "SELECT c.id FROM conversations c JOIN messages m ON m.conversation_id = c.id WHERE c.tenant_id = %s"
            " GROUP BY c.id ORDER BY count(*) = %s DESC, max(c.last_message_at) DESC LIMIT 1",
            (tenant.id, inbox_seed.MEASURED_THREAD),
        ).fetchone()[0]
        outbound = conn.execute(
            "SELECT m.provider_message_id, c.phone_number FROM messages m"
            " JOIN conversations c ON c.id = m.conversation_id"
            " WHERE m.tenant_id = %s AND m.direction = 'outbound' AND m.channel = 'sms'"
            " AND m.delivery_status IN ('sent', 'delivered') ORDER BY m.id DESC LIMIT %s",
            (tenant.id, count),
        ).fetchall()
    return {"conversation": conversation, "outbound": outbound}


FLOOR = "`/healthz` (no token, no SQL)"


class Endpoints:
    """Each measured request, by name: a function of the call's index returning (method, path, form)."""

    def __init__(self, bench: Bench, tenant: BenchTenant, found: dict, client: Client):
        self.bench, self.tenant, self.found = bench, tenant, found
        self.validator = RequestValidator(AUTH_TOKEN)
        self.auth = {"Authorization": f"Bearer {tenant.token}"}
        api, conversation = "/api/v1/conversations", found["conversation"]
        one_customer = tenant.phones[len(tenant.phones) // 3].removeprefix("+1")
        first = client.get_json(api, self.auth)["meta"]
        older = client.get_json(f"{api}/{conversation}/messages", self.auth)["meta"].get("next_before")
        self.skipped = {}  # name -> why it is not measured
        self.routes = {
            # No token, no SQL: what gunicorn and Flask cost any request here, the floor under the rest.
            FLOOR: lambda i: ("GET", "/healthz", None),
            "list (default)": lambda i: ("GET", api, None),
            "list `channel=sms&status=open`": lambda i: ("GET", f"{api}?channel=sms&status=open", None),
            f"list `search={inbox_seed.SEARCH_SURNAME}`": lambda i: (
                "GET",
                f"{api}?search={inbox_seed.SEARCH_SURNAME}",
                None,
            ),
            # What staff mostly search for: one customer, by number. Its matches stay one at every
            # size, where the surname's grow with the data.
            "list `search=<one customer's number>`": lambda i: ("GET", f"{api}?search={one_customer}", None),
            "list `offset=5000`": lambda i: ("GET", f"{api}?offset=5000", None),
        }
        if first.get("next_before") is not None:  # the keyset cursor, once the app has it
            self.routes["list `before` (page 2)"] = lambda i: ("GET", f"{api}?before={first['next_before']}", None)
        else:
            self.skipped["list `before` (page 2)"] = "no `meta.next_before` on the list yet"
        self.routes |= {
            "contacts (default)": lambda i: ("GET", "/api/v1/contacts", None),
            f"contacts `search={inbox_seed.SEARCH_SURNAME}`": lambda i: (
                "GET",
                f"/api/v1/contacts?search={inbox_seed.SEARCH_SURNAME}",
                None,
            ),
            "contacts `search=<one customer's number>`": lambda i: (
                "GET",
                f"/api/v1/contacts?search={one_customer}",
                None,
            ),
            "unread": lambda i: ("GET", f"{api}/unread", None),
            "get conversation": lambda i: ("GET", f"{api}/{conversation}", None),
            "messages": lambda i: ("GET", f"{api}/{conversation}/messages", None),
            "messages `before` page": lambda i: ("GET", f"{api}/{conversation}/messages?before={older}", None),
            "Twilio inbound webhook (receipt)": self.inbound,
            "Twilio inbound webhook (receipt, no task waiting)": self.inbound_alone,
            "Twilio status callback (receipt)": self.status_callback,
        }
        if older is None:
            self.skipped["messages `before` page"] = "the thread has one page only at this size"
            del self.routes["messages `before` page"]

    def inbound(self, i: int):
        phones = self.tenant.phones
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": self.tenant.account_sid,
            "From": phones[(i * 7919) % len(phones)],
            "To": self.tenant.number,
            "Body": "Is my order ready?",
            "NumMedia": "0",
            "SmsStatus": "received",
        }
        return "POST", "/webhooks/twilio", params

    def inbound_alone(self, i: int):
        """An inbound SMS as if a worker had just taken the tenant's webhook task: no worker runs
        here, so without this each receipt after the first finds a task waiting and skips the publish."""
        from app.celery import waiting_task_started
        from app.services.webhook_events import _events_of

        with self.bench.app.app_context():
            waiting_task_started(_events_of(self.tenant.id))  # what the worker does as it starts
        return self.inbound(i)

    def status_callback(self, i: int):
        sid, phone = self.found["outbound"][i % len(self.found["outbound"])]
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.tenant.account_sid,
            "MessageStatus": "delivered",
            "SmsStatus": "delivered",
            "To": phone,
            "From": self.tenant.number,
            "ApiVersion": "2010-04-01",
        }
        return "POST", "/webhooks/twilio", params

    def request(self, name: str, i: int) -> tuple[str, str, str, dict, dict | None]:
        method, path, form = self.routes[name](i)
        return name, method, path, self.headers(path, form), form

    def headers(self, path: str, form: dict | None) -> dict:
        if form is None:
            return self.auth
        return {"X-Twilio-Signature": self.validator.compute_signature(self.bench.public_url + path, form)}


class Client:
    """One keep-alive connection through plain http.client, as a phone holds one. Not requests: its
    own half millisecond per request (measured on /healthz) would be counted as the service's."""

    def __init__(self, public_url: str):
        self.connection = http.client.HTTPConnection(urlsplit(public_url).netloc, timeout=60)

    def call(self, method: str, path: str, headers: dict, form: dict | None = None) -> tuple[int, bytes]:
        body = None
        if form is not None:
            body, headers = urlencode(form), {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        self.connection.request(method, path, body=body, headers=headers)
        answer = self.connection.getresponse()
        return answer.status, answer.read()

    def get_json(self, path: str, headers: dict) -> dict:
        status, body = self.call("GET", path, headers)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        return json.loads(body)


def drive(request_of, client: Client, *, warmup: int, runs: int, start: int) -> tuple[float, float]:
    """(p50, p99) in ms of `runs` sequential requests after `warmup`; `request_of(i)` gives the i-th
    request's (name, method, path, headers, form), its index counted from `start` (unique ids)."""
    return drive_in_turn([request_of], client, warmup=warmup, runs=runs, start=start)[0]


def drive_in_turn(requests_of: list, client: Client, *, warmup: int, runs: int, start: int) -> list:
    """`drive` for several kinds of request taking turns one request at a time, so the machine's drift
    during the run weighs on each alike: their (p50, p99) in the same order."""
    timings = [[] for _ in requests_of]
    for i in range(warmup + runs):
        for kind, request_of in enumerate(requests_of):
            name, method, path, headers, form = request_of(start + i)
            began = time.perf_counter()
            status, body = client.call(method, path, headers, form)
            elapsed = (time.perf_counter() - began) * 1000
            if status >= 300:
                raise RuntimeError(f"{name}: {status} {body[:300]!r}")
            if i >= warmup:
                timings[kind].append(elapsed)
    return [(statistics.median(t), sorted(t)[min(len(t) - 1, int(len(t) * 0.99))]) for t in timings]


def sql_of(bench: Bench, endpoints: Endpoints, name: str, index: int):
    """The statements one request issues, through the test client, whether it was a read (GET), and
    its answer; a stored webhook event is removed after, so the replay (rolled back each time) can
    insert it again."""
    method, path, form = endpoints.routes[name](index)
    client = bench.app.test_client()
    answer, statements = inbox_sql.capture(
        bench.app, lambda: client.open(path, method=method, headers=endpoints.headers(path, form), data=form)
    )
    if answer.status_code >= 300:
        raise RuntimeError(f"capture {name}: {answer.status_code} {answer.get_data(as_text=True)[:300]}")
    if form is not None:
        with psycopg.connect(DATABASE_URL) as conn:
            conn.execute(
                "DELETE FROM webhook_events WHERE tenant_id = %s AND payload->>'MessageSid' = %s",
                (endpoints.tenant.id, form["MessageSid"]),
            )
    return statements, method == "GET", answer


def stack_floor(bench: Bench, endpoints: Endpoints, captured: dict, client_options) -> dict[str, tuple[float, float]]:
    """Each endpoint's (p50, p99) through bench/stack_floor.py: gunicorn (gunicorn.conf.py) and Flask
    running the request's captured statements through psycopg and sending its captured answer
    (`captured`: name -> (statements, read_request, answer), as `sql_of` gives them)."""
    floor_file = bench.base / "stack-floor.pickle"
    with floor_file.open("wb") as file:
        pickle.dump(
            {
                n: (
                    [(statement.sql, statement.params, statement.many) for statement in statements],
                    read_request,
                    answer.status_code,
                    answer.content_type,
                    answer.get_data(),
                )
                for n, (statements, read_request, answer) in enumerate(captured.values())
            },
            file,
        )
    port = free_port()
    env = bench.env | {
        "PORT": str(port),
        "STACK_FLOOR_REQUESTS": str(floor_file),
        "PYTHONPATH": str(ROOT / "bench"),
    }
    argv = [sys.executable, "-m", "gunicorn", "stack_floor:app", "-c", str(ROOT / "gunicorn.conf.py")]
    process = Process("stack-floor", argv, env, ROOT, bench.base / "stack-floor.log")
    process.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(f"{url}/healthz", timeout=2).ok, timeout=60, what="the stack floor")
        client = Client(url)
        figures = {}
        for n, name in enumerate(captured):

            def request_of(i, n=n, name=name):
                _, method, _, headers, form = endpoints.request(name, i)
                return name, method, f"/{n}", headers, form

            figures[name] = drive(request_of, client, **client_options)
        return figures
    finally:
        process.stop()


def measure_size(bench: Bench, label: str, messages: int, results: dict, *, largest: bool) -> float:
    """Measure every endpoint at one size into `results`; the seconds its seeding took."""
    options = bench.options
    tenants, seconds = bench.seed(messages)
    bench.start_process("web")
    client = Client(bench.public_url)
    callbacks = 2 * (options.warmup + options.requests) + 20
    endpoints = Endpoints(bench, tenants["big"], targets(tenants["big"], callbacks), client)
    timed = {"warmup": options.warmup, "runs": options.requests, "start": 0}
    captured = {}
    for n, name in enumerate(endpoints.routes):
        result = results.setdefault(name, inbox_report.EndpointResult(name))
        result.latency[label] = drive(partial(endpoints.request, name), client, **timed)
        statements, read_request, answer = sql_of(bench, endpoints, name, options.warmup + options.requests + 1 + n)
        captured[name] = (statements, read_request, answer)
        result.statements = len(statements)
        if largest:
            result.raw_p50 = inbox_sql.replay(
                DATABASE_URL, statements, runs=min(options.requests, 200), read_request=read_request
            )
            result.plans = inbox_sql.explain(DATABASE_URL, statements)
        p50, p99 = result.latency[label]
        log(f"  {label:>5} {name:<36} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  {len(statements)} statements")
    if largest:
        small = Endpoints(bench, tenants["small"], targets(tenants["small"], callbacks), client)
        for name in [name for name in endpoints.routes if name in small.routes]:
            requests_of = [partial(small.request, name), partial(endpoints.request, name)]
            (small_p50, _), (this_p50, _) = drive_in_turn(requests_of, client, **timed)
            results[name].beside = (small_p50, this_p50)
            log(f"  {label:>5} {name:<36} in turn: small tenant p50 {small_p50:7.1f} ms, this one {this_p50:7.1f} ms")
        for name, figures in stack_floor(bench, endpoints, captured, timed).items():
            results[name].floor = figures
            log(f"  {label:>5} {name:<36} stack floor p50 {figures[0]:7.1f} ms  p99 {figures[1]:7.1f} ms")
    for name, why in endpoints.skipped.items():
        result = results.setdefault(name, inbox_report.EndpointResult(name))
        result.skipped.setdefault(why, []).append(label)
    return seconds


def _load(averages: tuple[float, ...]) -> str:
    return " ".join(f"{value:.1f}" for value in averages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,100k,1m", help="messages in the large tenant, comma-separated")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--sends", type=int, default=2000, help="outbound sends (0: skip the throughput part)")
    parser.add_argument("--send-threads", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="sizes 2k,20k; 50 requests; 200 sends")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the Procfile's processes, to compare configurations: WORKER_CONCURRENCY=2, "
        "GUNICORN_CMD_ARGS='--workers 3' (gunicorn reads it over gunicorn.conf.py); repeatable",
    )
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    options = parser.parse_args()
    if options.quick:
        options.sizes, options.requests, options.warmup, options.sends = "2k,20k", 50, 10, min(options.sends, 200)
    sizes = [(label.strip(), parse_size(label)) for label in options.sizes.split(",")]
    sizes.sort(key=lambda pair: pair[1])

    import inbox_throughput

    load_at_start = os.getloadavg()  # other work on the machine shows in every figure
    bench = Bench(options)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))  # so `finally` stops what was started
    results: dict[str, inbox_report.EndpointResult] = {}
    seeding: dict[str, float] = {}
    throughput: dict = {}
    failed = True
    try:
        bench.start()
        for index, (label, messages) in enumerate(sizes):
            log(f"size {label}: {messages:,} messages")
            largest = index == len(sizes) - 1
            seeding[label] = measure_size(bench, label, messages, results, largest=largest)
            if largest and options.sends:
                throughput = inbox_throughput.run(bench, sends=options.sends, threads=options.send_threads)
            bench.processes.pop("web").stop()
        failed = False
    finally:
        bench.stop(keep_logs=failed)  # a failed run's logs say why
    with psycopg.connect(DATABASE_URL) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
    labels = [label for label, _ in sizes]
    report = inbox_report.render(
        command=shlex.join(["python", "bench/inbox.py", *sys.argv[1:]]),
        labels=labels,
        results=list(results.values()),
        seeding=seeding,
        throughput=throughput,
        pg_version=f"PostgreSQL {pg_version}",
        notes=[
            f"Load average (1, 5, 15 min) at the start: {_load(load_at_start)}; at the end: {_load(os.getloadavg())}."
        ],
    )
    Path(options.output).write_text(report + inbox_report.kept_reading(Path(options.output)))
    print(inbox_report.latency_table(list(results.values()), labels))
    print()
    print(inbox_report.throughput_table(throughput))
    log(f"written to {options.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
