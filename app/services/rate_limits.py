"""Provider rate limits, shared by every worker process through Redis.

Celery's own `rate_limit` is per worker process, so it cannot keep a fleet under a provider's
published limit; a moving window in Redis can. Without REDIS_URL the window is in memory.
Each adapter names its budget (`rate_budget`: the limit, and whose calls count against it).
A worker never sleeps for its turn: it is retried when the window has room.
"""

import time
from functools import cache

import limits
from flask import current_app
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.providers.base import RateBudget
from app.services.retries import RetryLater
from config import BROKER_SOCKET_TIMEOUT_SECONDS


@cache
def _limiter(storage_uri: str) -> MovingWindowRateLimiter:
    if storage_uri.startswith("redis"):  # bounded, like every other Redis call: a frozen Redis fails fast
        timeouts = {
            "socket_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
        }
        return MovingWindowRateLimiter(storage_from_string(storage_uri, **timeouts))
    return MovingWindowRateLimiter(storage_from_string(storage_uri))


def wait_for_slot(budget: RateBudget | None) -> float:
    """Take one call from `budget`. Returns 0, or the seconds to wait before trying again."""
    if budget is None:
        return 0.0
    item = limits.parse(budget.limit)
    limiter = _limiter(current_app.config.get("REDIS_URL") or "memory://")
    if limiter.hit(item, "provider-send", budget.key):
        return 0.0
    reset_at = limiter.get_window_stats(item, "provider-send", budget.key).reset_time
    return max(reset_at - time.time(), 0.1)


def take_slot_or_retry_later(budget: RateBudget | None) -> None:
    """Take one call from `budget`, or raise RetryLater for when the window has room."""
    if wait := wait_for_slot(budget):
        raise RetryLater(wait)
