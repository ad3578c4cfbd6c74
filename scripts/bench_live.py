"""Live streams under load: held event streams on one gunicorn worker, and staff reply -> widget time.

Starts the Procfile's web process (gunicorn.conf.py: gthread) with ONE worker against PostgreSQL
and Redis, then:
  1. list latency: GET /api/v1/conversations, from 4 concurrent clients, with no streams open;
  2. opens N staff event streams (GET /api/v1/events, all on the same tenant, so every event fans
     out to all of them) and measures the same list requests again while they are held;
  3. staff reply -> widget: a visitor's stream is open; staff POST a reply; the time until the
     reply's event arrives on the visitor's stream (with the N streams still held).

    .venv/bin/python scripts/bench_live.py [--streams 500] [--requests 400] [--replies 200] [--port 5104]

Uses the database BENCH_LIVE_DATABASE_URL (default conversations_webchat_dev) and REDIS_URL
(default redis://127.0.0.1:6379/2). Prints p50/p99 in milliseconds.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.services import accounts  # noqa: E402
from config import Config, database_url  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_LIVE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/conversations_webchat_dev"
)
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/2")


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(name, seconds):
    ms = [s * 1000 for s in seconds]
    return (
        f"{name}: n={len(ms)} p50={statistics.median(ms):.1f} ms p99={percentile(ms, 99):.1f} ms max={max(ms):.1f} ms"
    )


def setup() -> tuple[str, str]:
    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = database_url(DATABASE_URL)

    app = create_app(BenchConfig())
    with app.app_context():
        tenant = accounts.create_tenant(f"Live bench {int(time.time())}")
        user = accounts.create_user(tenant, email=f"bench{time.time_ns()}@bench.test", name="Bench Staff", role="admin")
        token = accounts.issue_token(user, "bench")
        key = tenant.widget_key
        db.session.remove()
    return token, key


def open_stream(port: int, path: str, token: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
    )
    head = b""
    while b": connected" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError(f"stream closed: {head[:200]!r}")
        head += chunk
    return sock


def list_latencies(base: str, token: str, count: int) -> list[float]:
    def one(_):
        session = requests.Session()
        started = time.perf_counter()
        response = session.get(f"{base}/api/v1/conversations?limit=50", headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        return time.perf_counter() - started

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(count)))


def reply_latencies(base: str, port: int, token: str, key: str, count: int) -> tuple[list[float], str]:
    start = requests.post(f"{base}/widget/v1/{key}/conversations", json={"name": "Bench Visitor"}, timeout=10)
    start.raise_for_status()
    visitor_token = start.json()["data"]["visitor_token"]
    conversation_id = start.json()["data"]["conversation"]["id"]
    requests.post(
        f"{base}/widget/v1/{key}/conversations/{conversation_id}/messages",
        json={"message": "hello"},
        headers={"Authorization": f"Bearer {visitor_token}"},
        timeout=10,
    ).raise_for_status()
    stream = open_stream(port, f"/widget/v1/{key}/conversations/{conversation_id}/events", visitor_token)
    stream.settimeout(10)
    staff = requests.Session()
    timings = []
    for n in range(count):
        marker = f"reply-{n}-{time.time_ns()}"
        started = time.perf_counter()
        staff.post(
            f"{base}/api/v1/conversations/{conversation_id}/messages",
            json={"message": marker},
            headers={"Authorization": f"Bearer {token}"},
        ).raise_for_status()
        received = b""
        while marker.encode() not in received:
            received += stream.recv(65536)
        timings.append(time.perf_counter() - started)
    stream.close()
    return timings, marker


def received(sock: socket.socket, marker: str) -> bool:
    """Whether a held stream got the event carrying `marker` (reads what it has buffered)."""
    sock.settimeout(5)
    data = b""
    try:
        while marker.encode() not in data:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return False
            data = data[-4096:] + chunk
    except TimeoutError:
        return False
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--replies", type=int, default=200)
    parser.add_argument("--port", type=int, default=5104)
    args = parser.parse_args()

    token, key = setup()
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "PORT": str(args.port),
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": str(args.streams + 50),
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "wsgi:app", "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null"],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        list_latencies(base, token, 50)  # warm up
        print(summary("list, no streams", list_latencies(base, token, args.requests)))
        timings, _ = reply_latencies(base, args.port, token, key, args.replies)
        print(summary("staff reply -> widget, no other streams", timings))
        streams = [open_stream(args.port, "/api/v1/events", token) for _ in range(args.streams)]
        held = len(streams)
        print(f"{held} staff event streams held on one worker")
        print(summary(f"list, {held} streams held", list_latencies(base, token, args.requests)))
        timings, last_marker = reply_latencies(base, args.port, token, key, args.replies)
        print(summary(f"staff reply -> widget, {held} streams held (each reply fans out to all)", timings))
        got_it = sum(received(stream, last_marker) for stream in streams)
        print(f"held streams that received the last reply: {got_it}/{held}")
        for stream in streams:
            stream.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
