"""Work that cannot be done now and should be tried again: how long to wait, said once."""

import random
from dataclasses import dataclass

from flask import current_app


@dataclass
class RetryLater(Exception):
    """Try again after `countdown` seconds (a provider's rate limit, a transient failure).

    Tasks turn it into a Celery retry; the work's own state says it is not done, so nothing is lost
    when the retry itself cannot be queued (the sweepers find it).
    """

    countdown: float
    rate_limited: bool = False  # the provider's budget has no room: other sends to it would wait too


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with jitter, capped: about base * 2^(attempt-1), half of it random."""
    config = current_app.config
    delay = min(config["SEND_BACKOFF_MAX_SECONDS"], config["SEND_BACKOFF_BASE_SECONDS"] * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (jitter, not security)
