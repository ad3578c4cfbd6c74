"""From a signed Twilio webhook to the phone, and a push failure never touching the message or the answer."""

import pytest

from app import push
from app.models import Message, WebhookEvent
from app.services import notifications
from tests.push.conftest import IOS_TOKEN, QueueWorker, register
from tests.push.standins import free_port
from tests.webhooks import payloads
from tests.webhooks.conftest import FakeTwilio, make_twilio_tenant


@pytest.fixture
def twilio(client, queue):
    """Signed Twilio webhooks; `deliver` also runs the webhook processing they enqueue (not the pushes)."""
    return FakeTwilio(client, QueueWorker(queue, ("webhooks.",)))


@pytest.fixture
def twilio_staff(db):
    from tests import factories

    tenant = make_twilio_tenant()
    return factories.make_user(tenant=tenant, email="agent@acme.test")


def test_a_signed_inbound_sms_ends_as_a_push_to_the_staff_phone(apns, worker, twilio, twilio_staff):
    register(twilio_staff)

    response = twilio.deliver(payloads.twilio_sms(body="Is my order ready?"))
    worker.run()

    assert response.status_code == 200
    [request] = apns.requests
    assert request["payload"]["aps"]["alert"] == {"title": payloads.CUSTOMER, "body": "Is my order ready?"}
    assert request["payload"]["aps"]["badge"] == 1


def test_apns_failing_leaves_the_message_and_the_webhook_untouched(apns, worker, twilio, twilio_staff):
    register(twilio_staff)
    apns.answer(IOS_TOKEN, *[(500, "InternalServerError")] * 10)

    response = twilio.deliver(payloads.twilio_sms(body="still stored"))
    worker.run()

    assert response.status_code == 200
    assert [message.body for message in Message.query.all()] == ["still stored"]
    assert [event.state for event in WebhookEvent.query.all()] == ["processed"]


def test_apns_unreachable_leaves_the_message_and_the_webhook_untouched(
    app, apns, worker, twilio, twilio_staff, monkeypatch
):
    monkeypatch.setitem(app.config, "APNS_BASE_URL", f"https://127.0.0.1:{free_port()}")
    push.reset_backends()
    register(twilio_staff)

    response = twilio.deliver(payloads.twilio_sms(body="still stored"))
    worker.run()

    assert response.status_code == 200
    assert [message.body for message in Message.query.all()] == ["still stored"]
    assert [event.state for event in WebhookEvent.query.all()] == ["processed"]


def test_a_broker_or_redis_outage_loses_only_the_push(app, apns, twilio, twilio_staff, monkeypatch):
    register(twilio_staff)
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(notifications, "enqueue", broker_down)

    response = twilio.deliver(payloads.twilio_sms(body="still stored"))

    assert response.status_code == 200
    assert [message.body for message in Message.query.all()] == ["still stored"]
    assert [event.state for event in WebhookEvent.query.all()] == ["processed"]
    assert apns.requests == []


def alerts(apns) -> list[str]:
    return [request["payload"]["aps"]["alert"]["body"] for request in apns.requests]


def test_a_call_then_a_voicemail_tells_incoming_then_voicemail_with_its_length(
    apns, markers, worker, twilio, twilio_staff
):
    register(twilio_staff)
    call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")

    twilio.deliver(payloads.twilio_call(call_sid))
    worker.run()
    twilio.deliver(
        payloads.twilio_recording_status(call_sid, recording_sid, duration=42), path="/webhooks/twilio/voice/recording"
    )
    twilio.deliver(payloads.twilio_call_status(call_sid, "completed", duration=50))
    worker.run()
    worker.run()  # a redelivered push task says nothing twice

    assert alerts(apns) == ["Incoming call", "Voicemail 0:42"]
    assert len({request["headers"]["apns-collapse-id"] for request in apns.requests}) == 1  # the second replaces it


def test_a_missed_call_is_told_and_an_answered_one_is_not(apns, markers, worker, twilio, twilio_staff):
    register(twilio_staff)
    missed, answered = payloads.sid("CA"), payloads.sid("CA")

    twilio.deliver(payloads.twilio_call(missed))
    twilio.deliver(payloads.twilio_call_status(missed, "no-answer", duration=0))  # within the burst window
    worker.run()
    twilio.deliver(payloads.twilio_call(answered, sender="+14155559876"))
    worker.run()
    apns.reset()
    twilio.deliver(payloads.twilio_call_status(answered, "completed", duration=95))
    worker.run()

    assert alerts(apns) == []
    assert worker.names() == []


def test_a_missed_call_within_the_burst_is_one_alert_saying_missed_call(apns, markers, worker, twilio, twilio_staff):
    register(twilio_staff)
    call_sid = payloads.sid("CA")

    twilio.deliver(payloads.twilio_call(call_sid))
    twilio.deliver(payloads.twilio_call_status(call_sid, "no-answer", duration=0))
    worker.run()

    assert alerts(apns) == ["Missed call"]
