"""What an operator meets: one-line CLI errors, URLs that follow PORT, no state files in the repository."""

from pathlib import Path

import pytest

from config import Config
from tests import factories

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli(app, db):
    return app.test_cli_runner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["webhooks", "sample-twilio", "--tenant", "{standalone}"], "not configured for Twilio"),
        (["ghl", "sync", "--tenant", "{standalone}"], "does not use GHL"),
        (["tokens", "create", "--tenant", "999999", "--user", "1"], "Tenant not found."),
        (
            ["users", "create", "--tenant", "{standalone}", "--email", "a@b.test", "--name", "A", "--password", "x"],
            None,
        ),
    ],
    ids=["sample-twilio-on-standalone", "ghl-sync-on-standalone", "unknown-tenant", "duplicate-user"],
)
def test_an_operator_mistake_is_one_line_not_a_traceback(cli, tenant, args, message):
    factories.make_user(tenant=tenant, email="a@b.test")
    args = [arg.format(standalone=tenant.id) for arg in args]

    result = cli.invoke(args=args)

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # click's own exit, not an escaped exception
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith("Error: ")
    assert message is None or message in line
    assert "Traceback" not in result.output


def test_webhook_urls_follow_the_port_the_service_runs_on(monkeypatch):
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("PORT", "5102")

    assert Config().PUBLIC_BASE_URL == "http://localhost:5102"


def test_a_configured_public_base_url_wins_over_the_port(monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://api.acme.example")
    monkeypatch.setenv("PORT", "5102")

    assert Config().PUBLIC_BASE_URL == "https://api.acme.example"


def test_the_settings_answer_names_the_configured_base_url(api, app):
    data = api.get("/api/v1/settings/messaging").json["data"]

    assert data["webhook_urls"]["twilio"] == app.config["PUBLIC_BASE_URL"] + "/webhooks/twilio"


def test_celery_beat_keeps_its_schedule_file_outside_the_repository(monkeypatch):
    monkeypatch.delenv("CELERY_BEAT_SCHEDULE_FILE", raising=False)
    monkeypatch.setattr(Config, "REDIS_URL", "redis://127.0.0.1:6379/0")

    schedule = Path(Config().CELERY["beat_schedule_filename"])

    assert schedule.is_absolute()
    assert ROOT not in schedule.parents


def test_the_beat_schedule_file_can_be_placed(monkeypatch):
    monkeypatch.setenv("CELERY_BEAT_SCHEDULE_FILE", "/var/run/beat/schedule")
    monkeypatch.setattr(Config, "REDIS_URL", "redis://127.0.0.1:6379/0")

    assert Config().CELERY["beat_schedule_filename"] == "/var/run/beat/schedule"
