"""Each tenant's provider budget is shared by every worker through Redis (Celery's rate_limit is per process)."""

import pytest
import redis

from app import crypto
from app.providers.base import RateBudget
from app.services import provider_registry, rate_limits
from app.services.delivery import send_pending_message
from app.services.retries import RetryLater
from tests import factories
from tests.pipeline.helpers import reload


@pytest.fixture
def shared_redis(app, redis_server, monkeypatch, fresh_limiters):
    redis.Redis.from_url(redis_server.url).flushdb()  # our own redis-server: nobody else's keys
    monkeypatch.setitem(app.config, "REDIS_URL", redis_server.url)
    return redis_server


def twilio_tenant(name: str, phone: str, **fields):
    return factories.make_tenant(
        name=name,
        sms_provider="twilio",
        twilio_phone_number=phone,
        twilio_account_sid_encrypted=crypto.encrypt("AC" + "0" * 32),
        twilio_auth_token_encrypted=crypto.encrypt("token"),
        **fields,
    )


def take_slot(tenant) -> float:
    """One send from the budget the tenant's own adapter names."""
    return rate_limits.wait_for_slot(provider_registry.provider_for(tenant).rate_budget)


def another_worker_process():
    """Forget this process's limiter and its connection: what is left is what Redis holds."""
    rate_limits._limiter.cache_clear()


@pytest.mark.integration
class TestABudgetInRedis:
    def test_every_worker_process_draws_on_the_same_budget(self, app, db, shared_redis, monkeypatch):
        monkeypatch.setitem(app.config, "TWILIO_RATE_LIMIT", "2/minute")
        tenant = twilio_tenant("Acme", "+15550001111")

        first = take_slot(tenant)
        another_worker_process()
        second = take_slot(tenant)
        another_worker_process()
        third = take_slot(tenant)

        assert (first, second) == (0, 0)
        assert 50 < third <= 60  # until the oldest send leaves the one-minute window
        assert redis.Redis.from_url(shared_redis.url).keys("LIMITS*")

    def test_each_tenant_has_its_own_budget(self, app, db, shared_redis, monkeypatch):
        monkeypatch.setitem(app.config, "TWILIO_RATE_LIMIT", "1/minute")
        acme, globex = twilio_tenant("Acme", "+15550001111"), twilio_tenant("Globex", "+15550002222")

        assert take_slot(acme) == 0
        assert take_slot(globex) == 0
        assert take_slot(acme) > 0

    def test_a_messaging_service_has_its_own_larger_budget(self, app, db, shared_redis, monkeypatch):
        monkeypatch.setitem(app.config, "TWILIO_RATE_LIMIT", "1/minute")
        monkeypatch.setitem(app.config, "TWILIO_SERVICE_RATE_LIMIT", "3/minute")
        tenant = twilio_tenant("Acme", "+15550001111", twilio_messaging_service_sid="MG" + "ab" * 16)

        waits = [take_slot(tenant) for _ in range(4)]

        assert waits[:3] == [0, 0, 0] and waits[3] > 0

    def test_ghl_counts_per_location(self, app, db, shared_redis, monkeypatch):
        monkeypatch.setitem(app.config, "GHL_RATE_LIMIT", "2/10 seconds")
        tenant = factories.make_tenant(
            name="Acme", sms_provider="ghl", ghl_location_id="loc-1", ghl_api_key_encrypted=crypto.encrypt("pit")
        )

        waits = [take_slot(tenant) for _ in range(3)]

        assert waits[:2] == [0, 0] and 0 < waits[2] <= 10


class TestTheSendPipelineKeepsToTheBudget:
    def test_a_send_over_budget_waits_for_the_window_without_calling_the_provider_or_using_an_attempt(
        self, app, tenant, compose, provider, monkeypatch, fresh_limiters
    ):
        provider.rate_budget = RateBudget("1/minute", "twilio:+15550003333")
        first, second = compose("one"), compose("two")

        assert send_pending_message(tenant.id, first.id) == "sent"
        with pytest.raises(RetryLater) as later:
            send_pending_message(tenant.id, second.id)

        assert 50 < later.value.countdown <= 60
        assert provider.sends == 1
        stored = reload(second)
        assert (stored.delivery_status, stored.claimed_at, stored.send_attempts) == ("pending", None, 0)

    def test_the_simulator_has_no_budget(self, tenant, compose, provider, fresh_limiters):
        messages = [compose(f"message {i}") for i in range(5)]

        assert [send_pending_message(tenant.id, m.id) for m in messages] == ["sent"] * 5
