"""`flask --app wsgi webhooks ...`, run as an operator runs it: a process of its own, configured by its environment."""

import os
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from app.extensions import db
from app.models import Message, WebhookEvent
from app.services import twilio_events
from config import TestConfig
from tests.webhooks import payloads
from tests.webhooks.conftest import FakeTwilio, RaceConfig, Worker, make_twilio_tenant

ROOT = Path(__file__).resolve().parents[2]


def flask(*args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": RaceConfig.SQLALCHEMY_DATABASE_URI,
        "ENCRYPTION_KEYS": TestConfig.ENCRYPTION_KEYS,
        "PUBLIC_BASE_URL": "https://api.example.test",
    }
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def tenant_id(committed):
    return make_twilio_tenant().id


def test_sample_twilio_prints_a_curl_command_twilio_would_have_signed(tenant_id):
    result = flask("webhooks", "sample-twilio", "--tenant", str(tenant_id), "--body", "Hello")

    assert result.returncode == 0, result.stderr
    curl = shlex.split(result.stdout)
    assert curl[:4] == ["curl", "-sS", "-X", "POST"]
    url, header = curl[4], curl[curl.index("-H") + 1]
    params = dict(parse_qsl(curl[curl.index("--data") + 1], keep_blank_values=True))
    assert url == "https://api.example.test/webhooks/twilio"
    assert header.startswith("X-Twilio-Signature: ")
    assert RequestValidator(payloads.AUTH_TOKEN).validate(url, params, header.split(": ", 1)[1])
    assert (params["Body"], params["AccountSid"], params["To"]) == (
        "Hello",
        payloads.ACCOUNT_SID,
        payloads.TWILIO_NUMBER,
    )
    assert payloads.AUTH_TOKEN not in result.stdout


def test_replay_processes_a_failed_event_in_its_own_process(committed, tenant_id, enqueued, monkeypatch):
    monkeypatch.setattr(twilio_events, "store_message", _always_failing)
    FakeTwilio(committed.test_client(), Worker(enqueued)).deliver(payloads.twilio_sms(body="lost, then found"))
    db.session.expire_all()
    event = db.session.scalars(db.select(WebhookEvent)).one()
    assert event.state == "failed"
    db.session.commit()

    result = flask("webhooks", "replay", "--failed")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"event {event.id}: processed"
    db.session.expire_all()
    assert db.session.scalars(db.select(Message.body)).all() == ["lost, then found"]


def _always_failing(*args, **kwargs):
    raise RuntimeError("the database went away")
