"""The Procfile's processes as a dyno runs them, for the benches (faults.py, inbox.py).

A Procfile line expanded as a dyno's shell would (`${VAR:-default}`, run with this Python, bound to
127.0.0.1), each process in its own process group, a private redis-server, and small helpers.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import redis
import requests
from cryptography.fernet import Fernet
from redis.backoff import NoBackoff
from redis.retry import Retry

ROOT = Path(__file__).resolve().parents[1]
REDIS_SERVER = os.environ.get("REDIS_SERVER_BIN", "/usr/bin/redis-server")
# What a dyno inherits from the machine; everything else is set by the bench.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "VIRTUAL_ENV", "TZ")


def dyno_env(**settings: str) -> dict:
    """A dyno's environment: the few inherited variables, PYTHONPATH at the repository, `settings`."""
    keep = {k: v for k, v in os.environ.items() if k in INHERITED}
    return {**keep, "PYTHONPATH": str(ROOT), **settings}


def in_process_env(database_url: str, redis_url: str, public_url: str) -> dict:
    """A dyno's production environment for the app run inside a bench's own process (bench/cpu.py,
    bench/instructions.py): one send task drains the whole backlog, nothing is logged below WARNING."""
    return dyno_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        APP_ENV="production",
        ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        SECRET_KEY=uuid.uuid4().hex,
        PUBLIC_BASE_URL=public_url,
        PROXY_HOPS="0",
        LOG_LEVEL="WARNING",
        SEND_TURN_SECONDS="100000",
    )


def run_flask(env: dict, *args: str, timeout: float = 180) -> str:
    """`flask --app wsgi ARGS` with a dyno's `env`, as the release line runs; its output, or RuntimeError."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def recreate_database(url: str, env: dict) -> None:
    """Drop and create the database at `url` on its server, then run the Procfile's release line."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(expand(procfile()["release"], env), cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, *, timeout: float, interval: float = 0.2, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            result = condition()
            if result:
                return result
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def thread_session(local, token: str) -> requests.Session:
    """This thread's keep-alive HTTP session (kept on `local`, a threading.local), signed in with `token`."""
    if not hasattr(local, "session"):
        local.session = requests.Session()
        local.session.headers["Authorization"] = f"Bearer {token}"
    return local.session


class Redis:
    """A private redis-server. No periodic persistence; `stop(keep=True)` saves on shutdown so the
    queue survives an outage (a restart of a managed Redis), `stop(keep=False)` comes back empty."""

    def __init__(self, base: Path):
        self.port = free_port()
        self.dir = base / "redis"
        self.dir.mkdir()
        self.log = base / "redis.log"
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.frozen = False

    def client(self) -> redis.Redis:
        # No retries: redis-py retries a command whose connection closed, SHUTDOWN's included.
        return redis.Redis(
            port=self.port, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0), retry_on_error=[]
        )

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--dbfilename",
                "dump.rdb",
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.client().ping, timeout=15, interval=0.05, what="redis-server")

    def stop(self, *, keep: bool) -> None:
        if self.process is None:
            return
        if self.frozen:
            self.thaw()
        with contextlib.suppress(redis.RedisError):
            self.client().shutdown(save=keep, nosave=not keep)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None
        if not keep:
            (self.dir / "dump.rdb").unlink(missing_ok=True)

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)
        self.frozen = False

    def queued(self, queue: str = "sends") -> int | None:
        with contextlib.suppress(redis.RedisError):
            return self.client().llen(queue)
        return None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)
            self.process.kill()
            self.process.wait(5)
        self.process = None


# --------------------------------------------------------------------------- the Procfile's processes


def procfile() -> dict[str, str]:
    lines = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            lines[name.strip()] = command.strip()
    return lines


def expand(command: str, env: dict) -> list[str]:
    """A Procfile line as a dyno's shell would run it: ${VAR:-default} expanded, run with this Python."""
    command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1)) or m.group(2), command)
    command = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), command)
    argv = shlex.split(command)
    argv = [a.replace("0.0.0.0:", "127.0.0.1:") for a in argv]  # everything stays on 127.0.0.1
    if argv[0] == "gunicorn" and not any(a == "--bind" or a.startswith("--bind=") for a in argv):
        argv += ["--bind", f"127.0.0.1:{env['PORT']}"]  # over a config file's 0.0.0.0
    if argv[0] in ("gunicorn", "celery", "flask"):
        argv = [sys.executable, "-m", argv[0], *argv[1:]]
    return argv


class Process:
    def __init__(self, name: str, argv: list[str], env: dict, cwd: Path, log: Path):
        self.name, self.argv, self.env, self.cwd, self.log = name, argv, env, cwd, log
        self.process: subprocess.Popen | None = None
        self.expected_down = True
        self.log_offset = 0
        self.starts = 0

    def start(self) -> None:
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0
        self.process = subprocess.Popen(  # noqa: S603
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches its children, as a dyno's would
        )
        self.expected_down = False
        self.starts += 1
        self.scanned, self.found = self.log_offset, False

    def saw(self, needle: str) -> bool:
        """Whether the log since this start contains `needle` (read incrementally)."""
        if not self.log.exists():
            return False
        start = max(getattr(self, "scanned", 0), self.log_offset)
        with self.log.open("rb") as handle:
            handle.seek(max(start - len(needle), self.log_offset))
            chunk = handle.read()
            self.scanned = handle.tell()
        self.found = getattr(self, "found", False) or needle.encode() in chunk
        return self.found

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL to the whole group, as when a container or VM dies."""
        self.expected_down = True
        self.signal_group(signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)

    def stop(self) -> None:
        self.expected_down = True
        if self.alive():
            self.signal_group(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(5)
        self.signal_group(signal.SIGKILL)  # leftovers of the group

    def output(self, since_start: bool = True) -> str:
        if not self.log.exists():
            return ""
        with self.log.open("rb") as handle:
            handle.seek(self.log_offset if since_start else 0)
            return handle.read().decode(errors="replace")
