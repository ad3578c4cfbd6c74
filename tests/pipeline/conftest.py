"""Fixtures for the outbound send pipeline: a fake provider, a recording queue, and a tenant that texts.

Unit tests run in the rolled-back `db` transaction from tests/conftest.py. Tests that need rows
other connections can see (racing workers, a real Celery worker) use the committed database and
the processes in tests/pipeline/live.py.
"""

import pytest

from app import celery as app_celery
from app.extensions import db as _db
from app.models import Message
from app.services import messages, rate_limits
from tests import factories
from tests.pipeline import live
from tests.pipeline.fakes import FakeProvider
from tests.pipeline.live import make_app
from tests.services import truncate_everything


@pytest.fixture
def provider(use_provider) -> FakeProvider:
    """The tenant's provider, whatever its settings say: script it with `provider.will(...)`."""
    fake = FakeProvider()
    use_provider(fake)
    return fake


@pytest.fixture
def fresh_limiters():
    """Each test builds its rate limiters anew, as a freshly started worker process would."""
    rate_limits._limiter.cache_clear()
    yield
    rate_limits._limiter.cache_clear()


@pytest.fixture
def tenant(db):
    """A tenant that texts (through the simulator, which has no rate limit; tests swap in a fake)."""
    return factories.make_tenant(name="Acme", sms_provider="simulator")


@pytest.fixture
def conversation(tenant, john):
    return factories.make_conversation(tenant=tenant, channel="sms", contact=john)


@pytest.fixture
def compose(tenant, staff, conversation, queue):
    """Send as staff through the service, exactly as the API does: returns the stored message."""

    def compose(body: str = "Your table is ready", *, media_urls=(), key: str | None = None) -> Message:
        draft = messages.Draft(body=body, media_urls=tuple(media_urls), idempotency_key=key)
        return messages.send_message(tenant, conversation.id, staff, draft).message

    return compose


# --- Committed rows and real processes (tests/pipeline/live.py) ---


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = live.started_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def live_app(committed_app, redis_server):
    """The API on the committed database, enqueueing to our Redis for a real worker."""
    return make_app(live.live_config(redis_server.url))


@pytest.fixture
def live_api(live_app, committed_app, redis_server, real_broker, monkeypatch):
    """The live app's context pushed on an empty database, Redis up, and no broker backoff left from before."""
    monkeypatch.setattr(app_celery, "_broker_down_until", 0.0)
    if redis_server.process is None:
        redis_server.start()
    with live_app.app_context():
        truncate_everything()
        try:
            yield live_app
        finally:
            _db.session.remove()
            truncate_everything()
