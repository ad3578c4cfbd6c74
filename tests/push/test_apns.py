"""APNs over HTTP/2 with token auth, against the stand-in: headers, payload, JWT, and every answer Apple gives."""

import logging
import time

import pytest

from app import jobs, push
from app.extensions import db
from app.models import Device
from app.push.apns import PRODUCTION_URL, SANDBOX_URL, ApnsBackend, ProviderToken
from app.push.base import PushConfigurationError, Target
from app.services import inbound, notifications
from tests import factories
from tests.push.conftest import IOS_TOKEN, IOS_TOKEN_2, register
from tests.push.standins import KEY_ID, TEAM_ID, TOPIC


def customer_writes(tenant, conversation, body="Is my order ready?"):
    return inbound.record_inbound(tenant, channel=conversation.channel, body=body, conversation=conversation)[1]


def test_an_inbound_message_reaches_the_assignees_iphone_over_http2_with_a_valid_token(
    apns, worker, tenant, staff, conversation
):
    conversation.assigned_to = staff.id
    db.session.commit()
    register(staff)

    message = customer_writes(tenant, conversation, "Is my order ready?")
    worker.run()

    [request] = apns.requests
    assert request["status"] == 200
    assert request["http_version"] == "2"
    assert request["path"] == f"/3/device/{IOS_TOKEN}"
    assert request["claims"]["iss"] == TEAM_ID  # the stand-in verified the ES256 signature with the public key
    headers = request["headers"]
    assert headers["apns-topic"] == TOPIC
    assert headers["apns-push-type"] == "alert"
    assert headers["apns-priority"] == "10"
    assert int(headers["apns-expiration"]) > time.time()
    assert headers["apns-collapse-id"] == f"conversation-{conversation.id}"
    assert request["payload"] == {
        "aps": {
            "alert": {"title": "Dana Scully", "body": "Is my order ready?"},
            "badge": 1,
            "sound": "default",
            "thread-id": f"conversation-{conversation.id}",
        },
        "type": "inbound",
        "conversation_id": conversation.id,
        "channel": "sms",
        "message_id": message.id,
    }


def test_a_device_registered_with_its_own_bundle_id_gets_it_as_the_topic(apns, worker, tenant, staff, conversation):
    register(staff, app_id="com.example.conversations.beta")

    customer_writes(tenant, conversation)
    worker.run()

    assert apns.requests[0]["headers"]["apns-topic"] == "com.example.conversations.beta"


def test_every_push_of_a_process_shares_one_connection_and_one_provider_token(
    apns, worker, tenant, staff, admin, conversation
):
    register(staff)
    register(admin, token=IOS_TOKEN_2)

    for body in ("one", "two", "three"):
        customer_writes(tenant, conversation, body)
        worker.run()

    assert len(apns.requests) == 6
    assert len({request["jwt"] for request in apns.requests}) == 1
    assert len(apns.connections) == 1  # one HTTP/2 connection (the same client address) for all six


def test_the_provider_token_is_reused_for_twenty_minutes_and_replaced_before_the_hour(app, apns, staff):
    register(staff)
    backend = push.backend_for("ios", app.config)
    started = time.time()
    token = backend.provider_token

    token.clock = lambda: started - 45 * 60
    first = token.current()
    token.clock = lambda: started - 25 * 60
    assert token.current() == first  # Apple throttles tokens refreshed more often than every 20 minutes
    token.clock = lambda: started
    second = token.current()  # 45 minutes old: replaced before Apple's hour runs out

    assert second != first
    assert notifications.send_test(staff.email)[0][1].outcome == push.Outcome.SENT
    assert apns.requests[-1]["jwt"] == second


def test_an_expired_provider_token_is_replaced_and_the_push_retried(apns, enqueued, staff):
    register(staff)
    apns.answer(IOS_TOKEN, (403, "ExpiredProviderToken"))

    notifications.push_to_user(staff.tenant_id, staff.id, "test", None, None)
    [(name, args, countdown)] = enqueued
    notifications.push_to_user(*args)

    first, second = apns.requests
    assert (first["status"], second["status"]) == (403, 200)
    assert first["jwt"] != second["jwt"]
    assert (name, countdown) == (jobs.PUSH_SEND, None)


@pytest.mark.parametrize(("status", "reason"), [(410, "Unregistered"), (400, "BadDeviceToken")])
def test_a_dead_token_is_forgotten(apns, worker, tenant, staff, conversation, status, reason):
    register(staff)
    register(staff, token=IOS_TOKEN_2)
    apns.answer(IOS_TOKEN, (status, reason))

    customer_writes(tenant, conversation)
    worker.run()

    assert [device.token for device in db.session.query(Device)] == [IOS_TOKEN_2]
    assert worker.names() == []  # nothing to retry


@pytest.mark.parametrize(("status", "reason"), [(429, "TooManyRequests"), (500, "InternalServerError"), (503, None)])
def test_throttling_and_server_errors_retry_only_the_failed_device_with_backoff(
    apns, worker, enqueued, tenant, staff, conversation, status, reason
):
    register(staff)
    failing = register(staff, token=IOS_TOKEN_2)
    apns.answer(IOS_TOKEN_2, (status, reason))

    customer_writes(tenant, conversation)
    worker.step()  # the burst's push: one device fails ...
    [(name, args, countdown)] = enqueued
    assert name == jobs.PUSH_SEND
    assert args[-2:] == ([failing.id], 1)  # ... only that device, attempt 1
    assert countdown >= 1

    worker.step()  # ... and the retry delivers it

    assert [(request["token"], request["status"]) for request in apns.requests] == [
        (IOS_TOKEN, 200),
        (IOS_TOKEN_2, status),
        (IOS_TOKEN_2, 200),
    ]
    assert apns.requests[2]["payload"]["aps"]["alert"]["body"] == "Is my order ready?"
    assert len(Device.query.all()) == 2


def test_retries_stop_after_the_configured_attempts(app, apns, worker, enqueued, tenant, staff, conversation, caplog):
    register(staff)
    apns.answer(IOS_TOKEN, *[(500, "InternalServerError")] * 10)

    customer_writes(tenant, conversation)
    with caplog.at_level(logging.WARNING):
        worker.run()

    assert len(apns.requests) == app.config["PUSH_MAX_ATTEMPTS"]
    assert "push.gave-up" in caplog.text
    assert len(Device.query.all()) == 1  # a server problem says nothing about the token


def test_other_refusals_are_logged_with_apples_reason_and_not_retried(
    apns, worker, tenant, staff, conversation, caplog
):
    register(staff)
    apns.answer(IOS_TOKEN, (400, "TopicDisallowed"))

    customer_writes(tenant, conversation)
    with caplog.at_level(logging.INFO):
        worker.run()

    refused = [record for record in caplog.records if record.getMessage() == "push.refused"]
    assert [(record.status, record.reason) for record in refused] == [(400, "TopicDisallowed")]
    assert worker.names() == []
    assert len(Device.query.all()) == 1


def test_a_read_conversation_updates_every_badge_silently(apns, worker, tenant, staff, admin, conversation, api):
    register(staff)
    register(admin, token=IOS_TOKEN_2)
    other = factories.make_conversation(
        tenant=tenant, contact=factories.make_contact(tenant=tenant, phone="+15550001111")
    )
    factories.make_message(conversation=other)
    customer_writes(tenant, conversation)
    worker.run()
    apns.reset()

    assert api.post(f"/api/v1/conversations/{conversation.id}/read").status_code == 200
    worker.run()

    assert len(apns.requests) == 2
    for request in apns.requests:
        assert request["status"] == 200
        assert request["headers"]["apns-push-type"] == "background"
        assert request["headers"]["apns-priority"] == "5"
        assert request["payload"]["aps"] == {"content-available": 1, "badge": 1}  # the other conversation's


def test_production_and_sandbox_devices_go_to_apples_matching_host(apns_server):
    key = ProviderToken(apns_server.auth_key_pem, key_id=KEY_ID, team_id=TEAM_ID, refresh_seconds=2400)
    backend = ApnsBackend(key, topic=TOPIC)

    assert backend.host_for(Target(IOS_TOKEN, environment="sandbox")) == SANDBOX_URL
    assert backend.host_for(Target(IOS_TOKEN, environment="production")) == PRODUCTION_URL


def test_a_broken_key_is_reported_without_quoting_it():
    not_a_key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"

    with pytest.raises(PushConfigurationError) as raised:
        ProviderToken(not_a_key, key_id=KEY_ID, team_id=TEAM_ID, refresh_seconds=2400)

    assert "c2VjcmV0" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_the_key_and_the_provider_token_never_reach_the_logs(apns, worker, tenant, staff, conversation, caplog):
    register(staff)
    apns.answer(IOS_TOKEN, (400, "BadTopic"))

    with caplog.at_level(logging.DEBUG):
        customer_writes(tenant, conversation)
        worker.run()

    key_body = apns.auth_key_pem.splitlines()[1]
    logged = caplog.text + " ".join(str(record.__dict__) for record in caplog.records)
    assert key_body not in logged
    assert apns.requests[0]["jwt"] not in logged
