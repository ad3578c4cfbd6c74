"""Two web processes share Redis: an event committed through one reaches streams held by the other."""

import pytest
import redis

from app import create_app, live
from app.extensions import db
from app.live.bus import RedisBus, id_key
from app.services import accounts
from config import TestConfig
from tests.services import celery_left_as_it_was, migrated_app, postgres_url, redis_url, truncate_everything
from tests.widget.conftest import ORIGIN, Visitor, open_stream, read_events


@pytest.fixture
def two_processes():
    """Two apps (as two gunicorn processes would be) on one database and one Redis; commits are real."""

    class SharedConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = postgres_url("fanout")
        REDIS_URL = redis_url()
        RATELIMIT_STORAGE_URI = "memory://"
        LIVE_HEARTBEAT_SECONDS = 0.05

    first = migrated_app(SharedConfig(), becomes_current=False)
    with celery_left_as_it_was():
        second = create_app(SharedConfig())
    with first.app_context():
        tenant = accounts.create_tenant("Fan-out")
        tenant.widget_allowed_origins = [ORIGIN]
        admin = accounts.create_user(tenant, email="fan@out.test", name="Fan Staff", role="admin")
        token = accounts.issue_token(admin)
        key = tenant.widget_key
        # Tenant ids restart with each run's empty database; the replay log in Redis must too.
        redis.Redis.from_url(SharedConfig.REDIS_URL).delete(RedisBus.log_key(tenant.id))
        db.session.remove()
    yield first, second, token, key
    for app in (first, second):
        live.get_bus(app).shutdown()
    with first.app_context():
        truncate_everything()
        db.engine.dispose()
    with second.app_context():
        db.engine.dispose()


def test_a_visitor_message_sent_through_one_process_reaches_a_staff_stream_held_by_the_other(two_processes):
    first, second, token, key = two_processes
    assert live.get_bus(second).wait_until_listening()
    _, chunks = open_stream(second.test_client(), "/api/v1/events", {"Authorization": f"Bearer {token}"})

    visitor = Visitor(first.test_client(), key)
    visitor.start(name="Remy")
    visitor.say("Through process one")

    events = read_events(chunks, 2)
    assert [event["event"] for event in events] == ["conversation.created", "message.created"]
    assert events[1]["data"]["message"]["body"] == "Through process one"
    assert id_key(events[1]["id"]) > id_key(events[0]["id"])


def test_a_stream_on_the_second_process_resumes_from_the_shared_log(two_processes):
    first, second, token, key = two_processes
    visitor = Visitor(first.test_client(), key)
    visitor.start()
    visitor.say("one")
    visitor.say("two")
    log = live.get_bus(first).replay(_tenant_id(first, key), "0-0")
    after_first_message = next(event.id for event in log if event.type == "message.created")

    _, chunks = open_stream(
        second.test_client(),
        "/api/v1/events",
        {"Authorization": f"Bearer {token}", "Last-Event-ID": after_first_message},
    )

    missed = read_events(chunks, 1)
    assert missed[0]["data"]["message"]["body"] == "two"


def _tenant_id(app, key):
    from app.services.webchat import tenant_for_widget_key

    with app.app_context():
        tenant_id = tenant_for_widget_key(key).id
        db.session.remove()
    return tenant_id
