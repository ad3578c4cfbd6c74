"""Fixtures for click-to-call and media: a Twilio tenant, staff with a phone, a fake that places calls."""

from urllib.parse import urlsplit

import pytest
import responses
from flask import current_app

import tasks.messages  # noqa: F401  (registers the send task, which places calls)
import tasks.webhooks  # noqa: F401
from app import jobs
from app.providers.base import CallRequest, ProviderError, ProviderIds
from tests import factories
from tests.webhooks import payloads
from tests.webhooks.conftest import FakeTwilio, make_twilio_tenant

STAFF_PHONE = "+14155550177"


class FakeCaller:
    """Stands in for a provider that places calls: remembers each request, answers with a call id."""

    name = "fake"
    rate_budget = None

    def __init__(self):
        self.placed: list[CallRequest] = []
        self.error: ProviderError | None = None
        self.call_id = payloads.sid("CA")

    def place_call(self, call: CallRequest) -> ProviderIds:
        self.placed.append(call)
        if self.error is not None:
            raise self.error
        return ProviderIds(message=self.call_id)


class Worker:
    """Runs whatever was enqueued (sends place calls, webhook events are processed), as the worker would."""

    def __init__(self, queue):
        self.queue = queue

    def run(self) -> list:
        outcomes = []
        while self.queue:
            name, args, _ = self.queue.pop(0)
            assert name in (jobs.SEND_MESSAGE, jobs.PROCESS_WEBHOOK), name
            outcomes.append(current_app.extensions["celery"].tasks[name](*args))
        return outcomes


@pytest.fixture
def tenant(db):
    return make_twilio_tenant()


@pytest.fixture
def admin(tenant, db):
    user = factories.make_user(tenant=tenant, role="admin", email="admin@acme.test")
    user.phone = STAFF_PHONE
    db.session.commit()
    return user


@pytest.fixture
def worker(queue):
    return Worker(queue)


@pytest.fixture
def twilio(client, worker, tenant):
    return FakeTwilio(client, worker)


@pytest.fixture
def caller(use_provider) -> FakeCaller:
    fake = FakeCaller()
    use_provider(fake)
    return fake


@pytest.fixture
def conversation(tenant, john):
    return factories.make_conversation(tenant=tenant, channel="voice", contact=john)


@pytest.fixture
def fake_twilio():
    """Twilio's media and recording URLs, answered as a test scripts them (responses)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def on_fake_twilio(url: str) -> str:
    """A Twilio URL as the adapter requests it: on the configured base URL."""
    return current_app.config["TWILIO_API_BASE_URL"].rstrip("/") + urlsplit(url).path
