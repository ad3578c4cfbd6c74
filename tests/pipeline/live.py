"""Real things for the tests that need them: a committed database, our own Redis, a Celery worker, a fake Twilio.

The `db` fixture's rolled-back transaction is invisible to other connections, so racing workers
and a real worker process use a separate database whose rows are committed (and truncated after
each test). Redis is a private `redis-server` on a free port, so stopping it hurts nobody else.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import redis

from app import create_app, jobs
from config import Config, TestConfig
from tests.services import CommittedConfig, celery_left_as_it_was, require

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = os.environ.get("REDIS_SERVER_BIN", "/usr/bin/redis-server")


def live_config(redis_url: str) -> CommittedConfig:
    """The committed database, with Celery on a real Redis (TestConfig's in-memory broker replaced)."""

    class LiveConfig(CommittedConfig):
        REDIS_URL = redis_url

        @property
        def CELERY(self) -> dict:
            return Config.CELERY.fget(self)

    return LiveConfig()


def make_app(config):
    with celery_left_as_it_was():
        return create_app(config)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A private redis-server that a test can stop (an outage) and start again on the same port."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = log_dir / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


def started_redis(log_dir: Path) -> RedisServer:
    """A private redis-server, running; without a redis-server binary, a skip (a failure under CI)."""
    server = RedisServer(log_dir)
    try:
        server.start()
    except Exception as exc:  # no redis-server binary, or it would not start
        server.stop()
        require("Redis", exc)
    return server


class Worker:
    """`celery -A celery_worker.celery worker` in a subprocess, configured through its environment like a dyno."""

    def __init__(self, *, redis_url: str, log: Path, pool: str = "solo", **settings):
        self.log = log
        self.pool = pool  # "prefork" as the Procfile's worker runs (children hold tasks too)
        self.env = {
            **os.environ,
            "DATABASE_URL": CommittedConfig.SQLALCHEMY_DATABASE_URI,
            "REDIS_URL": redis_url,
            "ENCRYPTION_KEYS": TestConfig.ENCRYPTION_KEYS,
            "PUBLIC_BASE_URL": TestConfig.PUBLIC_BASE_URL,
            "SIMULATOR_DELAY_SECONDS": "0.3",
            "SEND_BACKOFF_BASE_SECONDS": "0.2",
            "SEND_BACKOFF_MAX_SECONDS": "1",
            "SWEEP_GRACE_SECONDS": "1",
            "TWILIO_RATE_LIMIT": "100/second",
            "LOG_LEVEL": "INFO",
            **{name: str(value) for name, value in settings.items()},
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "celery_worker.celery",
                "worker",
                f"--pool={self.pool}",
                "--concurrency=2",
                "--queues=" + ",".join(jobs.QUEUES),
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"pipeline-test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while " ready." not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # warm shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class FakeTwilio:
    """Twilio's Messages API on localhost, counting what reaches it; `hold()` keeps answers waiting."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[tuple[int, dict]] = []  # scripted (HTTP status, JSON body); then 201, queued
        self.released = threading.Event()
        self.released.set()
        self.arrived = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def hold(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def sends(self) -> list[dict]:
        return [request for request in self.requests if request["path"].endswith("/Messages.json")]

    def bodies(self, body: str) -> list[dict]:
        """The sends that carried `body`."""
        return [request for request in self.sends() if request["form"].get("Body") == [body]]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                fake.requests.append({"path": self.path, "form": form})
                fake.arrived.set()
                fake.released.wait(30)
                status, body = fake.answers.pop(0) if fake.answers else (201, None)
                if body is None:  # accepted, as CreateMessage answers
                    body = {"sid": "SM" + uuid.uuid4().hex, "status": "queued", "to": form.get("To", [""])[0]}
                self._answer(status, body)

            def _answer(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        return Handler


def wait_until(condition, *, timeout: float = 15, interval: float = 0.1, what: str = "the condition"):
    """Poll `condition` until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
