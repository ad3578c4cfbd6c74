"""A burst of messages in one conversation is one alert, carrying the latest text and the right badge."""

from app import jobs
from app.services import inbound
from tests import factories
from tests.push.conftest import IOS_TOKEN, register


def customer_writes(tenant, conversation, body):
    return inbound.record_inbound(tenant, channel=conversation.channel, body=body, conversation=conversation)[1]


def test_a_burst_is_one_alert_with_the_latest_text_and_the_full_badge(
    app, apns, markers, worker, enqueued, tenant, staff, conversation
):
    register(staff)

    for body in ("Hi", "Are you open today?", "I need a refill"):
        customer_writes(tenant, conversation, body)

    assert enqueued == [(jobs.PUSH_INBOUND, (tenant.id, conversation.id), app.config["PUSH_COALESCE_SECONDS"])]
    worker.run()
    [request] = apns.requests
    assert request["payload"]["aps"]["alert"]["body"] == "I need a refill"
    assert request["payload"]["aps"]["badge"] == 3


def test_bursts_in_two_conversations_are_two_alerts(apns, markers, worker, tenant, staff, conversation):
    register(staff)
    other = factories.make_conversation(
        tenant=tenant, contact=factories.make_contact(tenant=tenant, phone="+15550009999")
    )

    customer_writes(tenant, conversation, "one")
    customer_writes(tenant, other, "two")
    worker.run()

    assert sorted(request["payload"]["aps"]["alert"]["body"] for request in apns.requests) == ["one", "two"]
    assert {request["headers"]["apns-collapse-id"] for request in apns.requests} == {
        f"conversation-{conversation.id}",
        f"conversation-{other.id}",
    }


def test_a_message_after_the_push_starts_a_new_alert(apns, markers, worker, tenant, staff, conversation):
    register(staff)

    customer_writes(tenant, conversation, "first")
    worker.run()
    customer_writes(tenant, conversation, "later")
    worker.run()

    assert [request["payload"]["aps"]["alert"]["body"] for request in apns.requests] == ["first", "later"]
    assert [request["payload"]["aps"]["badge"] for request in apns.requests] == [1, 2]


def test_a_redelivered_push_task_alerts_nobody_twice(apns, markers, worker, enqueued, tenant, staff, conversation):
    register(staff)
    customer_writes(tenant, conversation, "only once")
    task = enqueued[0]

    worker.run()
    enqueued.append(task)  # the broker delivers the same task again
    worker.run()

    assert len(apns.requests) == 1


def test_a_burst_read_before_its_push_left_is_not_pushed(apns, markers, worker, tenant, staff, conversation, api):
    register(staff)
    customer_writes(tenant, conversation, "hello?")

    api.post(f"/api/v1/conversations/{conversation.id}/read")
    outcomes = worker.run()

    assert "already-read" in outcomes
    assert [request["headers"]["apns-push-type"] for request in apns.requests] == ["background"]  # the badge only


def test_without_redis_every_message_is_pushed_on_its_own(apns, worker, enqueued, tenant, staff, conversation):
    register(staff)

    customer_writes(tenant, conversation, "a")
    customer_writes(tenant, conversation, "b")

    assert [name for name, _, _ in enqueued] == [jobs.PUSH_INBOUND, jobs.PUSH_INBOUND]
    worker.run()
    assert [request["payload"]["aps"]["badge"] for request in apns.requests] == [2, 2]
    assert IOS_TOKEN in {request["token"] for request in apns.requests}
