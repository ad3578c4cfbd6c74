"""`flask --app wsgi ghl sync` shows how far it got: a bar on a terminal, log lines elsewhere."""

import io
import logging

import pytest

from app.cli_progress import sync_progress
from app.services import ghl_sync
from app.services.retries import RetryLater
from tests.sync.test_ghl_sync import fake_ghl, ghl_tenant  # noqa: F401  (fixtures)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def one_wait(monkeypatch):
    """GHL's rate limit makes the sync wait once, briefly."""
    waits = iter([0.01])

    def take_slot(budget):
        if wait := next(waits, 0):
            raise RetryLater(wait)

    monkeypatch.setattr(ghl_sync, "take_slot_or_retry_later", take_slot)


def test_without_a_terminal_each_conversation_and_each_wait_is_a_log_line(app, ghl_tenant, fake_ghl, one_wait, caplog):  # noqa: F811
    with caplog.at_level(logging.INFO, logger="app.services.ghl_sync"):
        result = app.test_cli_runner().invoke(args=["ghl", "sync", "--tenant", str(ghl_tenant.id)])

    assert result.exit_code == 0, result.output
    progress = [r for r in caplog.records if r.msg == "ghl.sync-progress"]
    assert [(r.conversations, r.messages) for r in progress] == [(1, 2), (2, 3), (3, 4)]
    assert [r.wait_seconds for r in caplog.records if r.msg == "ghl.sync-waiting"] == [0.0]
    assert "Imported 3 conversations, 4 messages seen." in result.output


def test_on_a_terminal_a_bar_counts_conversations_and_messages(db, ghl_tenant, fake_ghl, one_wait):  # noqa: F811
    terminal = Terminal()

    with sync_progress(10, stream=terminal):
        ghl_sync.sync_tenant_waiting(ghl_tenant.id, max_conversations=10)

    shown = terminal.getvalue()
    assert "3/10" in shown
    assert "4 messages" in shown
    assert "waiting" in shown and "GHL's rate limit" in shown
