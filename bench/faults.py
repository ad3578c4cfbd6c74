#!/usr/bin/env python
"""The fault suite: the Procfile's processes under injected faults, measured from outside.

    python bench/faults.py                      # every scenario (about 15-20 minutes on 2 cores)
    python bench/faults.py --quick              # baseline + one Redis stop + one worker kill, small batches
    python bench/faults.py --scenario redis_freeze --scenario worker_kill
    python bench/faults.py --quick --json out.json   # the figures as JSON too (tests/faults reads them)

It starts its own PostgreSQL cluster (initdb as the `postgres` OS user into a temp dir), its own
redis-server and a fake Twilio, all on free 127.0.0.1 ports; runs the Procfile's `release` line, then
`web`, `worker` and `beat` as subprocesses with a dyno's environment; drives sends and signed inbound
webhooks over HTTP; injects the faults; and prints one table row per scenario. Nothing shortens the
pipeline's timing settings (sweeps, re-enqueue delays, claim timeouts, provider timeout): only the
Twilio rate limit is raised (TWILIO_RATE_LIMIT) so that a batch is not paced at one message a second.

The fake Twilio logs every Messages.json create before answering and sees a unique body per API
message, so each provider request maps to one API message: "once"/"twice" count what the provider
*accepted* (a 500 is not a text; a request that hangs past the client's timeout is, as at Twilio).
Run it with the project's virtualenv (`. .venv/bin/activate`), as root (PostgreSQL runs as `postgres`).
See bench/FAULTS.md for the last measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg
import requests
from cryptography.fernet import Fernet
from procfile import (
    ROOT,
    Process,
    Redis,
    dyno_env,
    expand,
    free_port,
    log,
    procfile,
    run_flask,
    thread_session,
    wait_for,
)
from twilio.request_validator import RequestValidator

PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
ACCOUNT_SID = "AC" + "f" * 32
AUTH_TOKEN = "fault-suite-auth-token-0123456789"
OUR_NUMBER = "+12025550100"
FINAL = {"sent", "delivered", "read", "failed"}
STATUS_POLL_FINISHED = {"delivered", "read", "failed"}


# --------------------------------------------------------------------------- fake Twilio


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed worker's keep-alive connection
            super().handle_error(request, client_address)


class FakeTwilio:
    """Twilio's Messages API on 127.0.0.1: create (logged before answering), list, fetch, status callbacks.

    `fail_rate` answers that share of creates with a 500 (nothing created); `hang_rate` creates the
    message, then holds the answer `hang_seconds` (the client times out; the text went out anyway).
    """

    def __init__(self, *, callback_delay: float = 1.0):
        self.lock = threading.Lock()
        self.create_requests: list[dict] = []  # every create, logged before answering
        self.messages: dict[str, dict] = {}  # sid -> accepted message
        self.accepted_by_body: dict[str, list[float]] = {}  # body -> wall-clock times it was accepted
        self.list_requests = 0
        self.fetch_requests = 0
        self.callbacks_failed = 0
        self.callbacks_sent = 0
        self.fail_rate = 0.0
        self.hang_rate = 0.0
        self.hang_seconds = 15.0
        self.latency = (0.15, 0.45)  # seconds a create takes, as Twilio's usually does
        self.callback_delay = callback_delay
        self.random = random.Random(10)  # noqa: S311
        self.validator = RequestValidator(AUTH_TOKEN)
        self._due: list = []
        self._due_lock = threading.Condition()
        self._seq = itertools.count()
        self._stopping = threading.Event()
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.threads = [threading.Thread(target=self.server.serve_forever, daemon=True)]
        self.threads += [threading.Thread(target=self._post_callbacks, daemon=True) for _ in range(4)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._due_lock:
            self._due_lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # -- what it accepted
    def accepted(self, body: str) -> list[float]:
        with self.lock:
            return list(self.accepted_by_body.get(body, ()))

    def _accept(self, form: dict) -> dict:
        sid = "SM" + uuid.uuid4().hex
        now = datetime.now(UTC)
        message = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": form.get("To", ""),
            "from": form.get("From") or OUR_NUMBER,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body", ""),
            "status": "queued",
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": format_datetime(now, usegmt=True),
            "date_updated": format_datetime(now, usegmt=True),
            "date_sent": format_datetime(now, usegmt=True),
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
            "subresource_uris": {},
            "_created": now,
            "_callback": form.get("StatusCallback"),
        }
        with self.lock:
            self.messages[sid] = message
            self.accepted_by_body.setdefault(message["body"], []).append(time.time())
        if message["_callback"]:
            self._schedule(self.callback_delay, sid, "sent")
            self._schedule(self.callback_delay + 0.5, sid, "delivered")
        return message

    # -- status callbacks, as Twilio posts them: form-encoded, signed with the auth token
    def _schedule(self, delay: float, sid: str, status: str) -> None:
        with self._due_lock:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._seq), sid, status))
            self._due_lock.notify()

    def _post_callbacks(self) -> None:
        session = requests.Session()
        while not self._stopping.is_set():
            with self._due_lock:
                while not self._stopping.is_set():
                    if self._due and self._due[0][0] <= time.monotonic():
                        _, _, sid, status = heapq.heappop(self._due)
                        break
                    wait = (self._due[0][0] - time.monotonic()) if self._due else 1.0
                    self._due_lock.wait(max(0.01, min(wait, 1.0)))
                else:
                    return
            with self.lock:
                message = self.messages[sid]
                message["status"] = status
                message["date_updated"] = format_datetime(datetime.now(UTC), usegmt=True)
            url = message["_callback"]
            params = {
                "AccountSid": ACCOUNT_SID,
                "MessageSid": sid,
                "SmsSid": sid,
                "MessageStatus": status,
                "SmsStatus": status,
                "To": message["to"],
                "From": message["from"],
                "ApiVersion": "2010-04-01",
            }
            if message["messaging_service_sid"]:
                params["MessagingServiceSid"] = message["messaging_service_sid"]
            try:
                answer = session.post(
                    url,
                    data=params,
                    headers={"X-Twilio-Signature": self.validator.compute_signature(url, params)},
                    timeout=10,
                )
                ok = answer.status_code < 300
            except requests.RequestException:
                ok = False
            with self.lock:
                if ok:
                    self.callbacks_sent += 1
                else:
                    self.callbacks_failed += 1

    def _page(self, query: dict) -> dict:
        def after(message, bound, inclusive):
            moment = message["_created"].replace(microsecond=0)
            return moment >= bound if inclusive else moment > bound

        with self.lock:
            found = [m for m in self.messages.values() if m["direction"] == "outbound-api"]
        if "To" in query:
            found = [m for m in found if m["to"] == query["To"]]
        if "From" in query:
            found = [m for m in found if m["from"] == query["From"]]
        for key, value in query.items():
            if not key.startswith("DateSent"):
                continue
            bound = _parse_date(value)
            if bound is None:
                continue
            if key in ("DateSent>", "DateSent>="):
                found = [m for m in found if after(m, bound, True)]
            elif key in ("DateSent<", "DateSent<="):
                found = [m for m in found if not after(m, bound, False)]
            elif key == "DateSent":
                found = [m for m in found if m["_created"].date() == bound.date()]
        found.sort(key=lambda m: m["_created"], reverse=True)  # newest first, as Twilio lists
        size = max(1, min(int(query.get("PageSize", 50)), 1000))
        page = int(query.get("Page", 0))
        chunk = found[page * size : (page + 1) * size]
        base = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        rest = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}
        more = (page + 1) * size < len(found)
        return {
            "messages": [_public(m) for m in chunk],
            "end": page * size + max(len(chunk) - 1, 0),
            "first_page_uri": f"{base}?{urlencode({**rest, 'PageSize': size, 'Page': 0})}",
            "next_page_uri": f"{base}?{urlencode({**rest, 'PageSize': size, 'Page': page + 1})}" if more else None,
            "previous_page_uri": None,
            "page": page,
            "page_size": size,
            "start": page * size,
            "uri": f"{base}?{urlencode({**rest, 'PageSize': size, 'Page': page})}",
        }

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                form = {
                    k: v[0]
                    for k, v in parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()).items()
                }
                path = urlsplit(self.path).path
                if not path.endswith("/Messages.json"):
                    return self._answer(404, {"code": 20404, "message": "not found", "status": 404})
                roll = fake.random.random()
                entry = {"at": time.time(), "body": form.get("Body", ""), "to": form.get("To", ""), "answer": None}
                with fake.lock:
                    fake.create_requests.append(entry)  # logged before anything is answered
                time.sleep(fake.random.uniform(*fake.latency))
                if roll < fake.fail_rate:
                    entry["answer"] = 500
                    return self._answer(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
                message = fake._accept(form)
                if roll < fake.fail_rate + fake.hang_rate:
                    entry["answer"] = "hang"
                    time.sleep(fake.hang_seconds)
                else:
                    entry["answer"] = 201
                self._answer(201, _public(message))

            def do_GET(self):
                split = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(split.query).items()}
                if split.path.endswith("/Messages.json"):
                    with fake.lock:
                        fake.list_requests += 1
                    return self._answer(200, fake._page(query))
                found = re.search(r"/Messages/(SM[0-9a-f]+)\.json$", split.path)
                if found:
                    with fake.lock:
                        fake.fetch_requests += 1
                        message = fake.messages.get(found.group(1))
                    if message is None:
                        return self._answer(404, {"code": 20404, "message": "not found", "status": 404})
                    return self._answer(200, _public(message))
                if re.search(r"/Accounts/AC[0-9a-f]+\.json$", split.path):  # FetchAccount (credential check)
                    return self._answer(
                        200, {"sid": ACCOUNT_SID, "status": "active", "friendly_name": "faults", "type": "Full"}
                    )
                self._answer(404, {"code": 20404, "message": "not found", "status": 404})

            def _answer(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                with contextlib.suppress(OSError):  # a client that timed out is gone
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, *args):
                pass

        return Handler


def _public(message: dict) -> dict:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _parse_date(value: str) -> datetime | None:
    for pattern in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"):
        with contextlib.suppress(ValueError):
            moment = datetime.strptime(value, pattern)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    with contextlib.suppress(ValueError):
        moment = datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


# --------------------------------------------------------------------------- PostgreSQL and Redis


class Postgres:
    """A private cluster, initdb'd as the `postgres` OS user (we are root), trust auth, fsync off."""

    def __init__(self, base: Path):
        self.port = free_port()
        self.data = base / "pgdata"
        self.sockets = base / "pgsock"
        self.log = base / "postgres.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/conversations"
        self.started = False

    def _as_postgres(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout, check=True)  # noqa: S603

    def start(self) -> None:
        for path in (self.data, self.sockets):
            path.mkdir()
            shutil.chown(path, "postgres", "postgres")
        self.log.touch()
        shutil.chown(self.log, "postgres", "postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.sockets} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )
        self.started = True
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE conversations")

    def restart_fast(self) -> None:
        # -l: without a log file the new postmaster would hold our stdout pipe open (and run() would wait).
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w", "restart"
        )

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(Exception):
                self._as_postgres(
                    str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30
                )
            self.started = False


class Stack:
    """Everything the suite runs, and its cleanup."""

    def __init__(self, *, keep_dir: bool = False):
        self.base = Path(tempfile.mkdtemp(prefix="faults-"))
        os.chmod(self.base, 0o755)  # noqa: S103 (postgres, another OS user, must reach its data directory)
        self.keep_dir = keep_dir
        self.pg = Postgres(self.base)
        self.redis = Redis(self.base)
        self.fake = FakeTwilio()
        self.web_port = free_port()
        self.public_url = f"http://127.0.0.1:{self.web_port}"
        self.env = self._dyno_env()
        self.processes: dict[str, Process] = {}
        self.self_exits: list[dict] = []  # a process that exited without us killing it
        self._watching = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self.token = ""
        self.http = requests.Session()

    def _dyno_env(self) -> dict:
        return dyno_env(
            **{
                "PORT": str(self.web_port),
                "DATABASE_URL": self.pg.url,
                "REDIS_URL": self.redis.url,
                "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "REQUIRE_ENCRYPTION_KEYS": "true",
                "SECRET_KEY": uuid.uuid4().hex,
                "PUBLIC_BASE_URL": self.public_url,
                "PROXY_HOPS": "0",
                "TWILIO_API_BASE_URL": self.fake.url,
                "TWILIO_RATE_LIMIT": os.environ.get("FAULTS_TWILIO_RATE_LIMIT", "10/second"),
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )

    def flask(self, *args: str) -> str:
        return run_flask(self.env, *args)

    def up(self) -> None:
        log(f"temp dir {self.base}")
        self.fake.start()
        self.pg.start()
        self.redis.start()
        log(f"PostgreSQL on {self.pg.port}, Redis on {self.redis.port}, fake Twilio on {self.fake.url}")
        lines = procfile()
        release = expand(lines["release"], self.env)
        subprocess.run(release, cwd=ROOT, env=self.env, check=True, capture_output=True, timeout=300)  # noqa: S603
        tenant_id = int(re.search(r"tenant (\d+)", self.flask("tenants", "create", "--name", "Faults")).group(1))
        user_out = self.flask(
            "users",
            "create",
            "--tenant",
            str(tenant_id),
            "--email",
            "admin@faults.test",
            "--name",
            "Admin",
            "--role",
            "admin",
            "--password",
            "fault-suite-password",
        )
        user_id = int(re.search(r"user (\d+)", user_out).group(1))
        self.token = (
            self.flask("tokens", "create", "--tenant", str(tenant_id), "--user", str(user_id)).strip().split()[-1]
        )
        self.http.headers["Authorization"] = f"Bearer {self.token}"
        for name in ("web", "worker", "beat"):
            argv = expand(lines[name], self.env)
            if name == "beat":
                argv += ["--schedule", str(self.base / "celerybeat-schedule")]  # not into the repository
            self.processes[name] = Process(name, argv, self.env, ROOT, self.base / f"{name}.log")
            self.processes[name].start()
        self.wait_web()
        self.wait_worker()
        answer = self.http.put(
            f"{self.public_url}/api/v1/settings/messaging",
            json={
                "sms_provider": "twilio",
                "twilio_account_sid": ACCOUNT_SID,
                "twilio_auth_token": AUTH_TOKEN,
                "twilio_phone_number": OUR_NUMBER,
            },
            timeout=30,
        )
        if answer.status_code != 200:
            raise RuntimeError(f"settings: {answer.status_code} {answer.text[:500]}")
        self._watching.set()
        self._watcher.start()

    def wait_web(self, timeout: float = 60) -> None:
        wait_for(lambda: requests.get(f"{self.public_url}/healthz", timeout=2).ok, timeout=timeout, what="gunicorn")

    def wait_worker(self, timeout: float = 90) -> None:
        worker = self.processes["worker"]
        wait_for(lambda: " ready." in worker.output() or not worker.alive(), timeout=timeout, what="the worker")

    def restart_worker(self) -> None:
        """What a supervisor does after a kill: start it again."""
        self.processes["worker"].start()

    def _watch(self) -> None:
        """Notice a process that exits on its own: a finding (no supervisor would be there in production
        outside Heroku). It is started again after 5 s so the run can go on, and reported.

        A worker that logged Celery's "Unrecoverable error" and is still running 20 s later is wedged
        (alive, consuming nothing: a supervisor would not notice either): reported the same way, and
        killed and started again, as the operator would have to by hand."""
        unrecoverable_since: dict[str, float] = {}
        while self._watching.is_set():
            for process in self.processes.values():
                if not process.expected_down and process.alive() and process.saw("Unrecoverable error"):
                    first = unrecoverable_since.setdefault(process.name, time.time())
                    if time.time() - first > 20:
                        tail = "\n".join(process.output().strip().splitlines()[-40:])
                        self.self_exits.append(
                            {"process": process.name, "at": time.time(), "code": "wedged", "tail": tail}
                        )
                        log(f"FINDING: {process.name} wedged after an unrecoverable error; restarting it by hand")
                        unrecoverable_since.pop(process.name, None)
                        process.kill()
                        threading.Timer(1, process.start).start()
                        continue
                if not process.expected_down and not process.alive():
                    code = process.process.returncode if process.process else None
                    tail = "\n".join(process.output().strip().splitlines()[-40:])
                    self.self_exits.append({"process": process.name, "at": time.time(), "code": code, "tail": tail})
                    log(f"FINDING: {process.name} exited on its own (code {code}); restarting it in 5 s")
                    process.expected_down = True
                    threading.Timer(5, process.start).start()
            time.sleep(0.5)

    def down(self) -> None:
        self._watching.clear()
        if self.redis.frozen:  # a process stopping on a frozen Redis would wait for it
            with contextlib.suppress(Exception):
                self.redis.thaw()
        for process in self.processes.values():
            with contextlib.suppress(Exception):
                process.stop()
        with contextlib.suppress(Exception):
            self.redis.kill()
        with contextlib.suppress(Exception):
            self.pg.stop()
        with contextlib.suppress(Exception):
            self.fake.stop()
        if not self.keep_dir:
            shutil.rmtree(self.base, ignore_errors=True)

    def db(self):
        return psycopg.connect(self.pg.url, connect_timeout=3)


# --------------------------------------------------------------------------- load


class Load:
    """Sends and inbound webhooks over HTTP from this process, each recorded with its answer and latency."""

    def __init__(self, stack: Stack, threads: int = 8):
        self.stack = stack
        self.pool = ThreadPoolExecutor(threads)
        self.local = threading.local()
        self.contacts: list[int] = []

    def session(self) -> requests.Session:
        return thread_session(self.local, self.stack.token)

    def make_contacts(self, count: int) -> None:
        for index in range(count):
            answer = self.stack.http.post(
                f"{self.stack.public_url}/api/v1/contacts",
                json={"phone": f"+1202555{index + 200:04d}", "first_name": f"Fault{index}"},
                timeout=30,
            )
            if answer.status_code != 201:
                raise RuntimeError(f"contact: {answer.status_code} {answer.text[:300]}")
            self.contacts.append(answer.json()["data"]["id"])
        # one message each, so every contact has its open conversation before the batches race
        for index, contact in enumerate(self.contacts):
            self._send(contact, f"warm-{index}-{uuid.uuid4().hex[:6]}")

    def _send(self, contact: int, body: str) -> dict:
        record = {"body": body, "started": time.time(), "status": None, "id": None, "error": None}
        try:
            answer = self.session().post(
                f"{self.stack.public_url}/api/v1/conversations/send",
                json={"contact_id": contact, "message": body, "channel": "sms"},
                timeout=30,
            )
            record["status"] = answer.status_code
            if answer.status_code in (200, 201):
                record["id"] = answer.json()["data"]["message"]["id"]
            else:
                record["error"] = answer.text[:200]
        except requests.RequestException as exc:
            record["error"] = type(exc).__name__
        record["latency"] = time.time() - record["started"]
        return record

    def sends(self, prefix: str, count: int, seconds: float) -> list:
        """`count` sends spread over `seconds`; returns their futures (in order)."""
        futures = []
        start = time.monotonic()
        for index in range(count):
            delay = start + index * seconds / max(count, 1) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body = f"{prefix}-{index}-{uuid.uuid4().hex[:8]}"
            futures.append(self.pool.submit(self._send, self.contacts[index % len(self.contacts)], body))
        return futures

    def _inbound(self, sid: str, sender: str, body: str) -> dict:
        url = f"{self.stack.public_url}/webhooks/twilio"
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": OUR_NUMBER,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        record = {"sid": sid, "body": body, "started": time.time(), "status": None, "error": None}
        try:
            answer = self.session().post(
                url,
                data=params,
                timeout=30,
                headers={"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)},
            )
            record["status"] = answer.status_code
        except requests.RequestException as exc:
            record["error"] = type(exc).__name__
        record["latency"] = time.time() - record["started"]
        return record

    def inbound(self, prefix: str, sids: int, seconds: float) -> list:
        """`sids` inbound messages, each delivered 2 or 3 times (Twilio redelivers), over `seconds`."""
        deliveries = []
        chooser = random.Random(3)  # noqa: S311
        for index in range(sids):
            body = f"{prefix}-{index}-{uuid.uuid4().hex[:8]}"
            sid = "SM" + uuid.uuid4().hex
            sender = f"+1202556{index % 50:04d}"
            for copy in range(chooser.choice((2, 3))):
                deliveries.append((index * seconds / sids + copy * chooser.uniform(0.5, 8), sid, sender, body))
        deliveries.sort()
        futures = []
        start = time.monotonic()
        for offset, sid, sender, body in deliveries:
            delay = start + offset - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(self.pool.submit(self._inbound, sid, sender, body))
        return futures


# --------------------------------------------------------------------------- scenarios


class Scenario:
    def __init__(self, stack: Stack, load: Load, name: str, title: str):
        self.stack, self.load, self.name, self.title = stack, load, name, title
        self.fault_cleared: float | None = None
        self.notes: list[str] = []
        self.started = time.time()
        self.extra: dict = {}

    def clear(self) -> None:
        self.fault_cleared = time.time()

    def at(self, offset: float) -> None:
        """Sleep until `offset` seconds after the scenario started."""
        delay = self.started + offset - time.time()
        if delay > 0:
            time.sleep(delay)


def in_background(function, *args):
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(result=function(*args)), daemon=True)
    thread.start()
    return thread, box


def run_sends(scenario: Scenario, count: int, seconds: float, faults) -> dict:
    """A batch of sends with `faults(scenario)` running alongside; then wait and count."""
    thread, box = in_background(scenario.load.sends, scenario.name, count, seconds)
    faults(scenario)
    thread.join(seconds + 120)
    records = [future.result(timeout=60) for future in box.get("result", [])]
    return settle_sends(scenario, records)


def settle_sends(scenario: Scenario, records: list[dict]) -> dict:
    stack = scenario.stack
    accepted = {r["body"]: r for r in records if r["id"] is not None}
    errors = [r for r in records if r["id"] is None]
    deadline_from = max(scenario.fault_cleared or 0, max((r["started"] for r in records), default=time.time()))
    deadline = deadline_from + SETTLE_SECONDS
    rows: dict[str, tuple] = {}
    db_errors = 0
    while True:
        try:
            with stack.db() as conn:
                found = conn.execute(
                    "SELECT body, delivery_status, error_code, provider_message_id FROM messages "
                    "WHERE direction = 'outbound' AND body LIKE %s",
                    (scenario.name + "-%",),
                ).fetchall()
            rows = {row[0]: row[1:] for row in found}
        except psycopg.Error:
            db_errors += 1
        # an API error whose message was stored anyway is waited for too: does it go out?
        waited = list(accepted) + [r["body"] for r in errors if r["body"] in rows]
        unfinished = [b for b in waited if (rows.get(b) or (None,))[0] not in FINAL]
        if not unfinished or time.time() > deadline:
            break
        time.sleep(1)
    time.sleep(3)  # a late duplicate (a retry after an unknown outcome) has a moment to arrive
    with contextlib.suppress(psycopg.Error), stack.db() as conn:
        found = conn.execute(
            "SELECT body, delivery_status, error_code, provider_message_id FROM messages "
            "WHERE direction = 'outbound' AND body LIKE %s",
            (scenario.name + "-%",),
        ).fetchall()
        rows = {row[0]: row[1:] for row in found}
    unfinished = [b for b in accepted if (rows.get(b) or (None,))[0] not in FINAL]
    once = twice = lost = failed_received = failed_unsent = 0
    latest = None
    api_to_provider = []
    statuses: dict[str, int] = {}
    error_codes: dict[str, int] = {}
    for body, record in accepted.items():
        times = stack.fake.accepted(body)
        status, code = (rows.get(body) or (None, None, None))[:2]
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if len(times) == 1:
            once += 1
        elif len(times) > 1:
            twice += 1
        elif status != "failed":
            lost += 1
        if status == "failed":
            error_codes[str(code)] = error_codes.get(str(code), 0) + 1
            if times:
                failed_received += 1
            else:
                failed_unsent += 1
        if times:
            api_to_provider.append(times[0] - record["started"])
            if scenario.fault_cleared is not None and times[0] > scenario.fault_cleared:
                late = times[0] - scenario.fault_cleared
                latest = late if latest is None else max(latest, late)
    # an API error whose message was stored or sent anyway
    phantom_sent = sum(1 for r in errors if stack.fake.accepted(r["body"]))
    phantom_stored = sum(1 for r in errors if r["body"] in rows)
    api_5xx = sum(1 for r in errors if (r["status"] or 0) >= 500)
    api_other = [r["status"] or r["error"] for r in errors if not (r["status"] or 0) >= 500]
    result = {
        "scenario": scenario.name,
        "title": scenario.title,
        "kind": "send",
        "requested": len(records),
        "sent": len(accepted),
        "lost": lost,
        "once": once,
        "twice": twice,
        "not_final_at_deadline": len(unfinished),
        "latest_after_fault_s": None if latest is None else round(latest, 1),
        "failed_but_received": failed_received,
        "failed_never_received": failed_unsent,
        "failed_codes": error_codes,
        "statuses": statuses,
        "api_5xx": api_5xx,
        "api_other_errors": api_other,
        "api_error_stored": phantom_stored,
        "api_error_sent": phantom_sent,
        "max_api_latency_s": round(max((r["latency"] for r in records), default=0), 2),
        "max_api_to_provider_s": round(max(api_to_provider, default=0), 1),
        "db_unavailable_polls": db_errors,
        "notes": scenario.notes,
        **scenario.extra,
    }
    return result


def settle_inbound(scenario: Scenario, records: list[dict]) -> dict:
    stack = scenario.stack
    posted = {}
    for record in records:
        posted.setdefault(record["body"], []).append(record)
    deadline = max(scenario.fault_cleared or 0, max((r["started"] for r in records), default=0)) + SETTLE_SECONDS
    counts: dict[str, int] = {}
    stored_at: dict[str, float] = {}
    while True:
        try:
            with stack.db() as conn:
                found = conn.execute(
                    "SELECT body, count(*), min(inserted_at) FROM messages WHERE direction = 'inbound' "
                    "AND body LIKE %s GROUP BY body",
                    (scenario.name + "-%",),
                ).fetchall()
            counts = {row[0]: row[1] for row in found}
            stored_at = {row[0]: row[2].timestamp() for row in found}
        except psycopg.Error:
            pass
        accepted_bodies = [b for b, rs in posted.items() if any(r["status"] == 200 for r in rs)]
        if all(b in counts for b in accepted_bodies) or time.time() > deadline:
            break
        time.sleep(1)
    once = sum(1 for b in posted if counts.get(b) == 1)
    twice = sum(1 for b in posted if counts.get(b, 0) > 1)
    accepted_bodies = [b for b, rs in posted.items() if any(r["status"] == 200 for r in rs)]
    lost = sum(1 for b in accepted_bodies if b not in counts)
    latest = None
    if scenario.fault_cleared is not None:
        lates = [stored_at[b] - scenario.fault_cleared for b in stored_at if stored_at[b] > scenario.fault_cleared]
        latest = max(lates, default=None)
    first_post = {b: min(r["started"] for r in rs) for b, rs in posted.items()}
    post_to_stored = [stored_at[b] - first_post[b] for b in stored_at if b in first_post]
    statuses: dict[str, int] = {}
    for record in records:
        key = str(record["status"] or record["error"])
        statuses[key] = statuses.get(key, 0) + 1
    return {
        "scenario": scenario.name,
        "title": scenario.title,
        "kind": "inbound",
        "requested": len(records),
        "sent": len(records),
        "sids": len(posted),
        "lost": lost,
        "once": once,
        "twice": twice,
        "not_final_at_deadline": lost,
        "latest_after_fault_s": None if latest is None else round(latest, 1),
        "failed_but_received": 0,
        "api_5xx": sum(1 for r in records if (r["status"] or 0) >= 500),
        "webhook_answers": statuses,
        "max_api_latency_s": round(max((r["latency"] for r in records), default=0), 2),
        "max_post_to_stored_s": round(max(post_to_stored, default=0), 1),
        "slow_over_60s": sum(1 for value in post_to_stored if value > 60),
        "notes": scenario.notes,
        **scenario.extra,
    }


def kill_worker(scenario: Scenario, restart_after: float = 2.0) -> None:
    stack = scenario.stack
    stack.processes["worker"].kill()
    time.sleep(restart_after)
    stack.restart_worker()
    stack.wait_worker()


# each scenario: (title, full size, quick size, function(stack, load, size) -> result)


def baseline(scenario: Scenario, size: int) -> dict:
    return run_sends(scenario, size, size / 20, lambda s: None)


def redis_stop(scenario: Scenario, size: int, outages: int = 2) -> dict:
    seconds = 5 + outages * 30 if outages > 1 else 25  # --quick: the batch ends as Redis comes back

    def faults(s: Scenario):
        for outage in range(outages):
            s.at(5 + outage * 30)
            s.stack.redis.stop(keep=True)
            log(f"  Redis stopped ({outage + 1}/{outages})")
            time.sleep(20)
            s.stack.redis.start()
            s.clear()
            log("  Redis back")

    return run_sends(scenario, size, seconds, faults)


def redis_empty(scenario: Scenario, size: int) -> dict:
    """A burst faster than the worker sends; Redis restarted empty while tasks are queued."""
    worker = scenario.stack.processes["worker"]

    def faults(s: Scenario):
        s.at(0.5)
        worker.signal_group(signal.SIGSTOP)  # busy elsewhere: the queue fills
        time.sleep(size / 60 + 1)
        s.extra["queued_at_restart"] = s.stack.redis.queued()
        s.stack.redis.stop(keep=False)
        s.stack.redis.start()
        worker.signal_group(signal.SIGCONT)
        s.clear()
        log(f"  Redis restarted empty with {s.extra['queued_at_restart']} tasks queued")

    result = run_sends(scenario, size, size / 60, faults)
    result["notes"].append(
        f"{result.get('queued_at_restart')} send tasks in the queue when Redis came back empty "
        "(the worker was SIGSTOPped while the burst was enqueued, SIGCONTed after)"
    )
    return result


def redis_freeze(scenario: Scenario, size: int) -> dict:
    window: dict = {}

    def faults(s: Scenario):
        s.at(8)
        s.stack.redis.freeze()
        window["from"] = time.time()
        log("  Redis frozen (SIGSTOP)")
        time.sleep(20)
        s.stack.redis.thaw()
        window["to"] = time.time()
        s.clear()
        log("  Redis thawed")

    thread, box = in_background(scenario.load.sends, scenario.name, size, 40)
    faults(scenario)
    thread.join(160)
    records = [future.result(timeout=60) for future in box.get("result", [])]
    during = [r for r in records if window["from"] <= r["started"] <= window["to"]]
    slow = [r for r in during if r["latency"] > 2]
    result = settle_sends(scenario, records)
    result["freeze_requests"] = len(during)
    result["freeze_requests_over_2s"] = len(slow)
    result["freeze_max_latency_s"] = round(max((r["latency"] for r in during), default=0), 1)
    result["notes"].append(
        f"API during the freeze: {len(during)} sends, {len(slow)} took > 2 s, max {result['freeze_max_latency_s']} s"
    )
    return result


def worker_kill(scenario: Scenario, size: int, kills: int = 3) -> dict:
    seconds = 15 + kills * 15 if kills > 1 else 20

    def faults(s: Scenario):
        for kill in range(kills):
            s.at(6 + kill * 15)
            kill_worker(s)
            s.clear()
            log(f"  worker SIGKILLed and restarted ({kill + 1}/{kills})")

    return run_sends(scenario, size, seconds, faults)


def pg_restart(scenario: Scenario, size: int) -> dict:
    def faults(s: Scenario):
        s.at(10)
        began = time.time()
        s.stack.pg.restart_fast()
        s.clear()
        log(f"  PostgreSQL restarted (-m fast) in {time.time() - began:.1f} s")

    return run_sends(scenario, size, 30, faults)


def inbound_faults(scenario: Scenario, size: int) -> dict:
    seconds = 50
    thread, box = in_background(scenario.load.inbound, scenario.name, size, seconds)
    scenario.at(12)
    kill_worker(scenario)
    log("  worker SIGKILLed and restarted")
    scenario.at(25)
    scenario.stack.redis.stop(keep=True)
    log("  Redis stopped")
    time.sleep(20)
    scenario.stack.redis.start()
    scenario.clear()
    log("  Redis back")
    thread.join(seconds + 120)
    records = [future.result(timeout=60) for future in box.get("result", [])]
    return settle_inbound(scenario, records)


def provider_flaky(scenario: Scenario, size: int) -> dict:
    fake = scenario.stack.fake
    fake.fail_rate, fake.hang_rate, fake.hang_seconds = 0.30, 0.05, 15.0
    try:
        thread, box = in_background(scenario.load.sends, scenario.name, size, 30)
        thread.join(200)
        records = [future.result(timeout=60) for future in box.get("result", [])]
        # The provider is flaky while the batch is requested (30 s), then recovers: the fault has
        # cleared, and the retries still waiting show how far behind a recovered provider we are.
        # (Before 2026-11-30 13:00 it stayed flaky while the suite waited, so no fault ever cleared.)
        fake.fail_rate = fake.hang_rate = 0.0
        scenario.clear()
        result = settle_sends(scenario, records)
    finally:
        fake.fail_rate = fake.hang_rate = 0.0
    bodies = {r["body"] for r in records}
    with fake.lock:
        mine = [r for r in fake.create_requests if r["body"] in bodies]
    result["provider_requests"] = len(mine)
    result["provider_500s"] = sum(1 for r in mine if r["answer"] == 500)
    result["provider_hangs"] = sum(1 for r in mine if r["answer"] == "hang")
    result["notes"].append(
        f"fake Twilio: {len(mine)} create requests, {result['provider_500s']} answered 500, "
        f"{result['provider_hangs']} hung 15 s (accepted)"
    )
    return result


SCENARIOS = {
    "baseline": ("baseline", 200, 40, baseline),
    "redis_stop": ("Redis stopped 20 s mid-batch (twice)", 600, 150, redis_stop),
    "redis_empty": ("Redis restarted empty with tasks queued", 200, None, redis_empty),
    "redis_freeze": ("Redis frozen 20 s (SIGSTOP)", 200, None, redis_freeze),
    "worker_kill": ("worker SIGKILL x3 mid-batch", 300, 60, worker_kill),
    "pg_restart": ("PostgreSQL restart (-m fast)", 300, None, pg_restart),
    "inbound": ("inbound SIDs x2-3 deliveries, SIGKILL + Redis down", 200, None, inbound_faults),
    "provider_flaky": ("provider: 30% 500s, 5% hang 15 s", 200, None, provider_flaky),
}
QUICK = {"baseline": {}, "redis_stop": {"outages": 1}, "worker_kill": {"kills": 1}}
SETTLE_SECONDS = 150.0


def table(results: list[dict]) -> str:
    lines = [
        "| scenario | sent | lost | once | twice | latest send after the fault cleared | "
        "failed but received | API 5xx | exited or wedged on its own | notes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        sent = f"{r['sent']} posts / {r['sids']} SIDs" if r["kind"] == "inbound" else str(r["sent"])
        latest = "n/a" if r["latest_after_fault_s"] is None else f"{r['latest_after_fault_s']} s"
        if r["not_final_at_deadline"]:
            latest = f"> {SETTLE_SECONDS:.0f} s ({r['not_final_at_deadline']} not final)"
        exits = ", ".join(
            f"{e['process']} {'wedged' if e['code'] == 'wedged' else 'exit ' + str(e['code'])}"
            for e in r.get("self_exit_details", [])
        )
        lines.append(
            f"| {r['title']} | {sent} | {r['lost']} | {r['once']} | {r['twice']} | "
            f"{latest} | {r['failed_but_received']} | {r['api_5xx']} | {exits or 'no'} | {'; '.join(r['notes'])} |"
        )
    return "\n".join(lines)


def describe(r: dict) -> list[str]:
    """The per-scenario notes derived from the figures."""
    notes = []
    if r.get("error"):
        return [f"**{r['error']}**"]
    if r["kind"] == "send":
        if r["requested"] != r["sent"]:
            notes.append(
                f"{r['requested'] - r['sent']} API errors ({r['api_5xx']} 5xx, other: {r['api_other_errors']})"
            )
        if r["api_error_stored"] or r["api_error_sent"]:
            notes.append(f"of the API errors {r['api_error_stored']} stored, {r['api_error_sent']} sent anyway")
        if r["failed_but_received"]:
            notes.append(
                f"{r['failed_but_received']} marked failed though the provider accepted them ({r['failed_codes']})"
            )
        if r["failed_never_received"]:
            notes.append(f"{r['failed_never_received']} failed, provider never accepted ({r['failed_codes']})")
        notes.append(f"final statuses {r['statuses']}; max API->provider {r['max_api_to_provider_s']} s")
    else:
        notes.append(
            f"webhook answers {r['webhook_answers']}; max post->stored {r['max_post_to_stored_s']} s, "
            f"{r['slow_over_60s']} stored > 60 s after the first post"
        )
    if r["not_final_at_deadline"]:
        notes.append(
            f"**{r['not_final_at_deadline']} not final {SETTLE_SECONDS:.0f} s after the fault cleared (stall)**"
        )
    if r["max_api_latency_s"] > 2:
        notes.append(f"slowest API answer {r['max_api_latency_s']} s")
    for exit_ in r.get("self_exit_details", []):
        if exit_["code"] == "wedged":
            notes.append(
                f"**{exit_['process']} wedged: logged Celery's unrecoverable error, stayed up consuming nothing; "
                f"restarted by hand**"
            )
        else:
            notes.append(f"**{exit_['process']} exited on its own (code {exit_['code']})**: `{exit_['last_line']}`")
    return notes


def log_findings(stack: Stack, since: int) -> dict:
    """Counts of telling lines in the worker's and beat's logs written during a scenario."""
    patterns = {
        "tracebacks": "Traceback",
        "AttributeError hostname": "has no attribute 'hostname'",
        "connection lost/retrying": "Cannot connect to redis",
        "send_interrupted": "send_interrupted",
        "re-enqueued": "re-enqueue",
    }
    found = {}
    for name in ("worker", "beat", "web"):
        process = stack.processes.get(name)
        if process is None or not process.log.exists():
            continue
        with process.log.open("rb") as handle:
            handle.seek(since.get(name, 0) if isinstance(since, dict) else 0)
            text = handle.read().decode(errors="replace")
        for label, needle in patterns.items():
            count = text.count(needle)
            if count:
                found[f"{name}: {label}"] = count
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="baseline + one Redis stop + one worker kill, small")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="repeatable")
    parser.add_argument("--settle", type=float, default=150.0, help="seconds to wait for every message to be final")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs) after the run")
    args = parser.parse_args()
    global SETTLE_SECONDS
    SETTLE_SECONDS = args.settle if not args.quick or args.settle != 150.0 else 75.0
    names = args.scenario or (list(QUICK) if args.quick else list(SCENARIOS))

    stack = Stack(keep_dir=args.keep)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    results = []
    started = time.time()
    try:
        stack.up()
        load = Load(stack)
        load.make_contacts(10 if args.quick else 20)
        for name in names:
            title, full, quick, function = SCENARIOS[name]
            size = quick if args.quick and quick else full
            kwargs = QUICK.get(name, {}) if args.quick else {}
            if args.quick and name == "redis_stop":
                title = "Redis stopped 20 s mid-batch (once)"
            if args.quick and name == "worker_kill":
                title = "worker SIGKILL x1 mid-batch"
            log(f"scenario {name}: {title}, {size}")
            offsets = {n: (p.log.stat().st_size if p.log.exists() else 0) for n, p in stack.processes.items()}
            exits_before = len(stack.self_exits)
            scenario = Scenario(stack, load, name, title)
            try:
                result = function(scenario, size, **kwargs)
            except Exception as exc:  # the instrument failed, not the service: say so and go on
                log(f"  scenario {name} could not be measured: {exc!r}")
                result = {
                    "scenario": name,
                    "title": title,
                    "kind": "send",
                    "requested": 0,
                    "sent": 0,
                    "lost": 0,
                    "once": 0,
                    "twice": 0,
                    "not_final_at_deadline": 0,
                    "latest_after_fault_s": None,
                    "failed_but_received": 0,
                    "api_5xx": 0,
                    "max_api_latency_s": 0,
                    "notes": [],
                    "error": f"not measured: {exc!r}"[:300],
                    "statuses": {},
                    "api_other_errors": [],
                    "api_error_stored": 0,
                    "api_error_sent": 0,
                    "failed_never_received": 0,
                    "max_api_to_provider_s": 0,
                    "failed_codes": {},
                }
            exits = stack.self_exits[exits_before:]
            result["self_exits"] = len(exits)
            result["self_exit_details"] = [
                {
                    "process": e["process"],
                    "code": e["code"],
                    "last_line": (e["tail"].splitlines() or [""])[-1][:160],
                    "log_tail": e["tail"],
                }
                for e in exits
            ]
            result["log_findings"] = log_findings(stack, offsets)
            result["duration_s"] = round(time.time() - scenario.started)
            result["notes"] = describe(result) + result["notes"]
            results.append(result)
            log(
                f"  -> sent {result['sent']} lost {result['lost']} once {result['once']} twice {result['twice']} "
                f"not-final {result['not_final_at_deadline']} latest {result['latest_after_fault_s']} s "
                f"logs {result['log_findings']}"
            )
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        return 130
    finally:
        if args.keep:
            log(f"logs kept in {stack.base}")
        stack.down()
        if results:
            print()
            print(table(results))
            print()
            print(f"{len(results)} scenarios in {time.time() - started:.0f} s on {os.cpu_count()} CPUs")
            if args.json:
                args.json.write_text(json.dumps({"results": results, "settle_s": SETTLE_SECONDS}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
