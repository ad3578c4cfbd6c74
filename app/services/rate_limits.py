"""Provider rate limits, shared by every worker process through Redis.

Celery's own `rate_limit` is per worker process, so it cannot keep a fleet under a provider's
published limit; a moving window in Redis can. Without REDIS_URL the window is in memory.
"""

import time
from functools import cache

import limits
from flask import current_app
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.models import Tenant


@cache
def _limiter(storage_uri: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(storage_from_string(storage_uri))


def budget_for(tenant: Tenant) -> tuple[str, str] | None:
    """The (limit, key) the tenant's provider calls count against, or None when unlimited."""
    config = current_app.config
    if tenant.sms_provider == "ghl":
        return config["GHL_RATE_LIMIT"], f"ghl:{tenant.ghl_location_id or tenant.id}"
    if tenant.sms_provider == "twilio":
        if tenant.twilio_messaging_service_sid:
            return config["TWILIO_SERVICE_RATE_LIMIT"], f"twilio:{tenant.twilio_messaging_service_sid}"
        return config["TWILIO_RATE_LIMIT"], f"twilio:{tenant.twilio_phone_number or tenant.id}"
    return None


def wait_for_send_slot(tenant: Tenant) -> float:
    """Take one send from the tenant's provider budget. Returns 0, or the seconds to wait before trying again."""
    return wait_for_slot(budget_for(tenant))


def wait_for_slot(budget: tuple[str, str] | None) -> float:
    """Take one call from `budget` (see budget_for). Returns 0, or the seconds to wait before trying again."""
    if budget is None:
        return 0.0
    spec, key = budget
    item = limits.parse(spec)
    limiter = _limiter(current_app.config.get("REDIS_URL") or "memory://")
    if limiter.hit(item, "provider-send", key):
        return 0.0
    reset_at = limiter.get_window_stats(item, "provider-send", key).reset_time
    return max(reset_at - time.time(), 0.1)
