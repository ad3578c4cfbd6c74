"""Live events: the staff stream (/api/v1/events) and the visitor's stream, fed by the bus."""

import threading

import pytest
import redis
import redis.connection

from app import live
from app.live.bus import RedisBus
from app.live.sse import event_stream
from app.services.delivery_status import apply_status_update
from tests import factories
from tests.services import redis_url
from tests.widget.conftest import nothing_more, open_stream, read_events

pytestmark = pytest.mark.usefixtures("fast_streams")


def test_the_staff_stream_carries_a_visitor_message_and_the_conversation_changes(api, visitor, admin):
    visitor.start(name="Alex")
    _, chunks = open_stream(api.client, "/api/v1/events", api.headers)

    visitor.say("Hello?")
    api.post(f"/api/v1/conversations/{visitor.conversation_id}/assign")
    api.post(f"/api/v1/conversations/{visitor.conversation_id}/read")
    api.post(f"/api/v1/conversations/{visitor.conversation_id}/close")

    events = read_events(chunks, 4)
    assert [event["event"] for event in events] == [
        "message.created",
        "conversation.assigned",
        "conversation.read",
        "conversation.closed",
    ]
    message = events[0]["data"]
    assert message["conversation_id"] == visitor.conversation_id
    assert (message["channel"], message["message"]["body"], message["message"]["sender_type"]) == (
        "web",
        "Hello?",
        "visitor",
    )
    assert events[1]["data"]["assigned_to"] == admin.id
    assert all(event["id"] for event in events)


def test_updates_through_put_are_announced_like_the_dedicated_calls(api, visitor, admin):
    visitor.start()
    _, chunks = open_stream(api.client, "/api/v1/events", api.headers)

    api.put(f"/api/v1/conversations/{visitor.conversation_id}", json={"status": "closed", "assigned_to": admin.id})
    api.put(f"/api/v1/conversations/{visitor.conversation_id}", json={"metadata": {"vip": True}})  # nothing to tell
    api.put(f"/api/v1/conversations/{visitor.conversation_id}", json={"status": "open"})

    events = read_events(chunks, 3)
    assert [event["event"] for event in events] == [
        "conversation.assigned",
        "conversation.closed",
        "conversation.reopened",
    ]
    assert nothing_more(chunks)


def test_another_tenants_stream_hears_nothing(api, other_api, visitor):
    visitor.start()
    _, theirs = open_stream(other_api.client, "/api/v1/events", other_api.headers)

    visitor.say("for Acme only")
    api.post(f"/api/v1/conversations/{visitor.conversation_id}/typing")

    assert nothing_more(theirs)


def test_the_staff_stream_needs_a_bearer_token(client):
    assert client.get("/api/v1/events").status_code == 401


def test_a_client_resumes_after_its_last_event_id_and_gets_only_what_it_missed(api, visitor):
    visitor.start()
    _, chunks = open_stream(api.client, "/api/v1/events", api.headers)
    visitor.say("one")
    first = read_events(chunks, 1)[0]
    visitor.say("two")
    visitor.say("three")

    _, resumed = open_stream(api.client, "/api/v1/events", {**api.headers, "Last-Event-ID": first["id"]})

    missed = read_events(resumed, 2)
    assert [event["data"]["message"]["body"] for event in missed] == ["two", "three"]
    assert nothing_more(resumed)


def test_a_delivery_status_change_is_announced_once_committed(api, tenant, admin):
    conversation = factories.make_conversation(tenant=tenant, channel="sms")
    message = factories.make_message(conversation=conversation, direction="outbound", delivery_status="sent")
    _, chunks = open_stream(api.client, "/api/v1/events", api.headers)

    apply_status_update(tenant.id, message.id, "delivered")
    apply_status_update(tenant.id, message.id, "sent")  # backwards: not applied, not announced

    events = read_events(chunks, 1)
    assert events[0]["event"] == "message.status"
    assert events[0]["data"] == {
        "conversation_id": conversation.id,
        "message_id": message.id,
        "delivery_status": "delivered",
    }
    assert nothing_more(chunks)


def test_the_visitor_stream_carries_staff_replies_typing_and_reads_of_its_own_conversation_only(
    client, api, visitor, widget_tenant
):
    visitor.start()
    visitor.say("Hi")
    from tests.widget.conftest import Visitor

    other = Visitor(client, widget_tenant.widget_key)
    other.start()
    _, chunks = open_stream(client, visitor.conversation_url("/events"), visitor.headers())

    api.post(f"/api/v1/conversations/{other.conversation_id}/messages", json={"message": "not for you"})
    api.post(f"/api/v1/conversations/{visitor.conversation_id}/typing")
    api.post(f"/api/v1/conversations/{visitor.conversation_id}/messages", json={"message": "Hello Alex"})
    api.post(f"/api/v1/conversations/{visitor.conversation_id}/read")

    events = read_events(chunks, 3)
    assert [event["event"] for event in events] == ["typing", "message.created", "conversation.read"]
    assert events[0]["data"] == {"by": "staff", "name": "A User"}
    reply = events[1]["data"]
    assert (reply["body"], reply["sender_type"], reply["sender_name"]) == ("Hello Alex", "staff", "A User")
    assert "sender_id" not in reply and "conversation_id" not in reply
    assert events[2]["data"]["read_up_to"] is not None
    assert nothing_more(chunks)


def test_the_visitor_stream_needs_the_conversations_token(client, visitor, widget_tenant):
    visitor.start()

    assert client.get(visitor.conversation_url("/events")).status_code == 401
    assert client.get(visitor.conversation_url("/events"), headers={"Authorization": "Bearer nope"}).status_code == 404


def test_streams_end_with_a_reconnect_event_when_the_process_shuts_down(api, app):
    _, chunks = open_stream(api.client, "/api/v1/events", api.headers)
    bus = live.get_bus(app)
    try:
        bus.shutdown()
        events = read_events(chunks, 1)
    finally:
        bus.stopping.clear()

    assert events[0]["event"] == "reconnect"
    with pytest.raises(StopIteration):
        next(chunks)


@pytest.fixture
def two_redis_buses():
    """The buses of two web processes sharing one Redis."""
    url = redis_url()
    first, second = RedisBus(url, 100, 60), RedisBus(url, 100, 60)
    assert second.wait_until_listening()
    yield first, second
    first.shutdown()
    second.shutdown()


def test_an_event_published_by_one_process_reaches_the_streams_of_another_through_redis(two_redis_buses):
    publisher, listener = two_redis_buses
    tenant_id, elsewhere = 900_000_001, 900_000_002
    stream = event_stream(listener, tenant_id, None, shape=lambda event: event.data, heartbeat_seconds=0.05)
    next(stream)  # connected

    publisher.publish(elsewhere, "message.created", {"conversation_id": 2})
    published = publisher.publish(tenant_id, "message.created", {"conversation_id": 1})
    publisher.publish(tenant_id, "typing", {"conversation_id": 1, "by": "visitor"}, durable=False)

    frames = []
    waiter = threading.Timer(3, lambda: listener.shutdown())
    waiter.start()
    for frame in stream:
        if frame.startswith(": keep-alive"):
            continue
        frames.append(frame)
        if len(frames) == 2:
            break
    waiter.cancel()
    assert frames[0] == f'id: {published.id}\nevent: message.created\ndata: {{"conversation_id":1}}\n\n'
    assert frames[1].startswith("event: typing\n")  # ephemeral: no id, not replayable
    resumed = listener.replay(tenant_id, "0-0")
    assert [event.id for event in resumed][-1] == published.id
    assert all(event.type != "typing" for event in resumed)


def test_events_committed_together_are_published_in_order_in_one_round_trip(two_redis_buses, monkeypatch):
    publisher, listener = two_redis_buses
    tenant_id = 900_000_003
    redis.Redis.from_url(redis_url()).delete(RedisBus.log_key(tenant_id))
    publisher.publish(tenant_id, "typing", {}, durable=False)  # connected: its handshake is not counted
    writes = []
    write = redis.connection.Connection.send_packed_command
    monkeypatch.setattr(
        redis.connection.Connection,
        "send_packed_command",
        lambda self, *a, **k: writes.append(1) or write(self, *a, **k),
    )

    published = publisher.publish_many([(tenant_id, "message.status", {"number": n}, True) for n in range(5)])

    assert len(writes) == 1
    assert [event.data["number"] for event in published] == [0, 1, 2, 3, 4]
    assert [event.id for event in listener.replay(tenant_id, "0-0")] == [event.id for event in published]


def test_a_batch_is_published_after_redis_lost_its_scripts(two_redis_buses):
    publisher, listener = two_redis_buses
    tenant_id = 900_000_004
    redis.Redis.from_url(redis_url()).delete(RedisBus.log_key(tenant_id))
    redis.Redis.from_url(redis_url()).script_flush()  # as a Redis restarted since the last publish

    published = publisher.publish_many([(tenant_id, "message.status", {"number": n}, True) for n in range(3)])

    assert [event.id for event in listener.replay(tenant_id, "0-0")] == [event.id for event in published]


def test_a_visitor_typing_reaches_the_staff_stream_without_being_logged(api, visitor, app):
    visitor.start(name="Alex")
    _, chunks = open_stream(api.client, "/api/v1/events", api.headers)

    response = visitor.client.post(visitor.conversation_url("/typing"), headers=visitor.headers())

    assert response.status_code == 204
    events = read_events(chunks, 1)
    assert events[0]["event"] == "typing"
    assert events[0]["data"] == {"conversation_id": visitor.conversation_id, "by": "visitor", "name": "Alex"}
    assert "id" not in events[0]  # ephemeral: nothing to resume from


def test_staff_typing_in_another_tenants_conversation_answers_404(other_api, visitor):
    visitor.start()

    assert other_api.post(f"/api/v1/conversations/{visitor.conversation_id}/typing").status_code == 404


def test_rotating_the_visitor_token_ends_streams_opened_with_the_old_one(client, visitor, api):
    visitor.start()
    _, chunks = open_stream(client, visitor.conversation_url("/events"), visitor.headers())
    _, staff_chunks = open_stream(api.client, "/api/v1/events", api.headers)

    rotated = client.post(visitor.conversation_url("/token"), headers=visitor.headers())

    assert rotated.status_code == 200
    assert [event["event"] for event in read_events(chunks, 1)] == ["reconnect"]
    with pytest.raises(StopIteration):
        next(chunks)
    assert nothing_more(staff_chunks)  # the web processes' own signal is not shown to staff
