"""On deploy the web process gets SIGTERM: held streams end at once with `reconnect`, and it exits."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.extensions import db
from app.services import accounts
from config import TestConfig
from tests.services import migrated_app, postgres_url, truncate_everything

ROOT = Path(__file__).resolve().parents[2]


class GunicornConfig(TestConfig):
    SQLALCHEMY_DATABASE_URI = postgres_url("gunicorn")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def staff_token():
    app = migrated_app(GunicornConfig(), becomes_current=False)
    with app.app_context():
        tenant = accounts.create_tenant("Deploy")
        user = accounts.create_user(tenant, email="deploy@example.test", name="D", role="admin")
        token = accounts.issue_token(user)
        db.session.remove()
    yield token
    with app.app_context():
        truncate_everything()
        db.engine.dispose()


def test_sigterm_ends_held_streams_with_reconnect_and_the_worker_exits_well_before_the_grace_period(staff_token):
    port = free_port()
    database = GunicornConfig.SQLALCHEMY_DATABASE_URI.replace("postgresql+psycopg://", "postgresql://")
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(DATABASE_URL=database, PORT=str(port), WEB_CONCURRENCY="1", WEB_THREADS="8", WEB_GRACEFUL_TIMEOUT="20")
    env.update(ENCRYPTION_KEYS=TestConfig.ENCRYPTION_KEYS)  # a production-style start refuses to run without keys
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "wsgi:app", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        stream = _open_stream(port, staff_token)
        stopping_at = time.monotonic()

        server.send_signal(signal.SIGTERM)

        tail = _read_until_closed(stream)
        assert b"event: reconnect" in tail
        server.wait(timeout=10)
        assert time.monotonic() - stopping_at < 10  # not the 20 s grace period a held stream would cost
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _open_stream(port: int, token: str) -> socket.socket:
    deadline = time.monotonic() + 30
    while True:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    sock.sendall(f"GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    head = b""
    while b": connected" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data
