"""A production process refuses to start without real keys, and says how to make them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/not-even-connected"


def start(entry_point: str, **env) -> subprocess.CompletedProcess:
    """Import an entry point as its process would (gunicorn wsgi:app, celery -A celery_worker)."""
    base = {k: v for k, v in os.environ.items() if k not in ("APP_ENV", "SECRET_KEY", "ENCRYPTION_KEYS")}
    base.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", f"import {entry_point}"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("entry_point", ["wsgi", "celery_worker"])
def test_a_production_start_without_keys_refuses_with_a_clear_message(entry_point):
    result = start(entry_point, DATABASE_URL=DATABASE_URL)

    assert result.returncode == 1
    assert "Refusing to start with APP_ENV=production" in result.stderr
    assert "ENCRYPTION_KEYS is not set" in result.stderr
    assert "Fernet.generate_key()" in result.stderr  # how to make one
    assert "Traceback" not in result.stderr


def test_a_production_start_with_real_keys_starts():
    result = start("wsgi", DATABASE_URL=DATABASE_URL, ENCRYPTION_KEYS=Fernet.generate_key().decode())

    assert result.returncode == 0, result.stderr


def test_a_key_that_is_not_a_fernet_key_is_refused():
    result = start(
        "wsgi", APP_ENV="production", SECRET_KEY="s" * 48, ENCRYPTION_KEYS=f"{Fernet.generate_key().decode()},oops"
    )

    assert result.returncode == 1
    assert "ENCRYPTION_KEYS entry 2 is not a Fernet key" in result.stderr


@pytest.mark.parametrize(
    "env", [{}, {"APP_ENV": "development", "DATABASE_URL": DATABASE_URL}], ids=["sqlite", "explicit-development"]
)
def test_development_starts_without_keys(env):
    assert start("wsgi", **env).returncode == 0
