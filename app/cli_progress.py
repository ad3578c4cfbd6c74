"""`ghl sync`'s progress: a bar on a terminal; elsewhere (a dyno's log, a pipe) the log lines themselves.

The sync logs `ghl.sync-progress` after each conversation and `ghl.sync-waiting` whenever GHL's
rate limit makes it wait; this turns those records into a progress bar when a person is watching.
"""

import logging
import sys
from contextlib import contextmanager

import click

SYNC_LOGGER = "app.services.ghl_sync"


class ProgressBarHandler(logging.Handler):
    def __init__(self, bar):
        super().__init__(level=logging.INFO)
        self.bar = bar

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "ghl.sync-progress":
            self.bar.label = f"{record.messages} messages"
            self.bar.update(record.conversations - self.bar.pos)
        elif record.msg == "ghl.sync-waiting":
            self.bar.label = f"waiting {record.wait_seconds} s for GHL's rate limit"
            self.bar.render_progress()


@contextmanager
def sync_progress(max_conversations: int, *, stream=None):
    """Show the sync's progress while the block runs: a bar on a terminal, log lines otherwise."""
    stream = stream or sys.stderr
    if not stream.isatty():
        # Not a terminal: the INFO log lines (one per conversation, one per wait) are the progress.
        logger = logging.getLogger(SYNC_LOGGER)
        if not logger.isEnabledFor(logging.INFO):
            logger.setLevel(logging.INFO)
        yield
        return
    logger = logging.getLogger(SYNC_LOGGER)
    with click.progressbar(length=max_conversations, label="Importing", show_pos=True, file=stream) as bar:
        handler = ProgressBarHandler(bar)
        logger.addHandler(handler)
        propagate, logger.propagate = logger.propagate, False  # the bar replaces the lines
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.propagate = propagate
