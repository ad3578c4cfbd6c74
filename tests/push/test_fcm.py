"""FCM HTTP v1 for Android, against a stand-in of messages:send and Google's OAuth2 token endpoint."""

import logging

import pytest

from app import jobs, push
from app.models import Device
from app.services import inbound, notifications
from tests.push.conftest import ANDROID_TOKEN, register


def customer_writes(tenant, conversation, body="Is my order ready?"):
    return inbound.record_inbound(tenant, channel=conversation.channel, body=body, conversation=conversation)[1]


@pytest.fixture
def android(staff, fcm):
    return register(staff, token=ANDROID_TOKEN, platform="android")


def test_an_inbound_message_reaches_an_android_phone(fcm, android, worker, tenant, conversation):
    message = customer_writes(tenant, conversation)
    worker.run()

    [sent] = fcm.messages
    assert sent == {
        "token": ANDROID_TOKEN,
        "notification": {"title": "Dana Scully", "body": "Is my order ready?"},
        "data": {
            "type": "inbound",
            "conversation_id": str(conversation.id),
            "channel": "sms",
            "message_id": str(message.id),
            "badge": "1",
        },
        "android": {
            "priority": "high",
            "collapse_key": f"conversation-{conversation.id}",
            "notification": {"notification_count": 1, "tag": f"conversation-{conversation.id}"},
        },
    }


def test_the_oauth_token_is_minted_once_and_reused(fcm, android, worker, tenant, conversation):
    for body in ("one", "two", "three"):
        customer_writes(tenant, conversation, body)
        worker.run()

    assert len(fcm.messages) == 3
    assert fcm.tokens_issued == ["ya29.test-1"]


def test_an_unregistered_token_is_forgotten(fcm, android, worker, tenant, conversation):
    fcm.answer(ANDROID_TOKEN, (404, "UNREGISTERED"))

    customer_writes(tenant, conversation)
    worker.run()

    assert Device.query.count() == 0


@pytest.mark.parametrize(("status", "code"), [(503, "UNAVAILABLE"), (429, "QUOTA_EXCEEDED"), (500, "INTERNAL")])
def test_unavailable_and_quota_retry_later(fcm, android, worker, enqueued, tenant, conversation, status, code):
    fcm.answer(ANDROID_TOKEN, (status, code))

    customer_writes(tenant, conversation)
    worker.step()

    [(name, args, countdown)] = enqueued
    assert (name, args[-2:]) == (jobs.PUSH_SEND, ([android.id], 1))
    assert countdown >= 1
    worker.step()
    assert len(fcm.messages) == 2
    assert Device.query.count() == 1


def test_an_invalid_argument_is_logged_and_not_retried(fcm, android, worker, tenant, conversation, caplog):
    fcm.answer(ANDROID_TOKEN, (400, "INVALID_ARGUMENT"))

    customer_writes(tenant, conversation)
    with caplog.at_level(logging.INFO):
        worker.run()

    assert [record.reason for record in caplog.records if record.getMessage() == "push.refused"] == ["INVALID_ARGUMENT"]
    assert Device.query.count() == 1


def test_a_badge_update_is_data_only(fcm, android, worker, tenant, conversation, api):
    customer_writes(tenant, conversation)
    worker.run()

    api.post(f"/api/v1/conversations/{conversation.id}/read")
    worker.run()

    badge = fcm.messages[-1]
    assert "notification" not in badge
    assert badge["data"] == {"type": "badge", "conversation_id": str(conversation.id), "badge": "0"}


def test_without_credentials_a_platform_is_skipped_and_said_once(app, monkeypatch, staff, caplog):
    for key in ("APNS_AUTH_KEY", "APNS_AUTH_KEY_PATH", "FCM_CREDENTIALS", "FCM_CREDENTIALS_PATH"):
        monkeypatch.setitem(app.config, key, None)
    push.reset_backends()
    register(staff, token=ANDROID_TOKEN, platform="android")
    register(staff)

    with caplog.at_level(logging.INFO):
        first = notifications.send_test(staff.email)
        second = notifications.send_test(staff.email)
    push.reset_backends()

    assert {result.outcome for _, result in first + second} == {push.Outcome.SKIPPED}
    not_configured = [
        record.platform for record in caplog.records if record.getMessage() == "push.backend-not-configured"
    ]
    assert sorted(not_configured) == ["android", "ios"]
