"""Twilio's message status callbacks: late, repeated and out of order, the status only moves forward."""

import itertools

import pytest

from app.models import Contact, Message, WebhookEvent
from app.models.base import utcnow
from app.services import webhook_events
from tests import factories
from tests.webhooks import payloads
from tests.webhooks.conftest import count, one

CALLBACKS = ("sent", "delivered", "read", "failed", "undelivered")
FAILURES = {"failed", "undelivered"}
DELIVERIES = {"delivered", "read"}


@pytest.fixture
def sent_message(twilio_tenant):
    """A message our worker handed to Twilio: it carries Twilio's SID and is `sent`."""
    contact = factories.make_contact(tenant=twilio_tenant, phone=payloads.CUSTOMER)
    conversation = factories.make_conversation(tenant=twilio_tenant, contact=contact)
    return factories.make_message(
        conversation=conversation, direction="outbound", delivery_status="sent", provider_message_id=payloads.sid("SM")
    )


def status_of(message) -> str:
    return one(Message, Message.id == message.id).delivery_status


def expected_final(order: tuple[str, ...]) -> str:
    """The most advanced status reported; `failed` only when a failure came before any delivery."""
    for status in order:
        if status in FAILURES:
            return "failed"
        if status in DELIVERIES:
            break
    return "read" if "read" in order else "delivered" if "delivered" in order else "sent"


# Every order of all five, and every ordered pair (where "delivered" alone can be the answer).
ORDERS = [*itertools.permutations(CALLBACKS), *itertools.permutations(CALLBACKS, 2)]


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_callbacks_in_any_order_leave_the_most_advanced_status(twilio, sent_message, order):
    for status in order:
        error = "30003" if status in FAILURES else None
        response = twilio.deliver(payloads.twilio_status(sent_message.provider_message_id, status, error_code=error))
        assert response.status_code == 200

    assert status_of(sent_message) == expected_final(order)
    assert count(WebhookEvent) == len(order)


def test_a_status_callback_is_answered_with_empty_twiml(twilio, sent_message):
    response = twilio.post(payloads.twilio_status(sent_message.provider_message_id, "delivered"))

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert b"<Response" in response.data


def test_a_repeated_callback_is_stored_once(twilio, sent_message):
    params = payloads.twilio_status(sent_message.provider_message_id, "delivered")

    responses = [twilio.deliver(params) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert count(WebhookEvent) == 1
    assert status_of(sent_message) == "delivered"


def test_a_failure_keeps_twilios_error_code(twilio, sent_message):
    twilio.deliver(payloads.twilio_status(sent_message.provider_message_id, "undelivered", error_code="30006"))

    message = one(Message, Message.id == sent_message.id)
    assert (message.delivery_status, message.error_code) == ("failed", "30006")
    assert message.error_message


def test_a_late_failure_after_delivery_keeps_the_delivery_and_its_clean_error_fields(twilio, sent_message):
    twilio.deliver(payloads.twilio_status(sent_message.provider_message_id, "delivered"))
    twilio.deliver(payloads.twilio_status(sent_message.provider_message_id, "failed", error_code="30008"))

    message = one(Message, Message.id == sent_message.id)
    assert (message.delivery_status, message.error_code) == ("delivered", None)


def test_error_21610_means_the_recipient_replied_stop(twilio, sent_message):
    twilio.deliver(payloads.twilio_status(sent_message.provider_message_id, "failed", error_code="21610"))

    assert one(Contact).sms_opted_out


@pytest.mark.parametrize("status", ["accepted", "scheduled", "queued", "sending"])
def test_in_flight_statuses_change_nothing(twilio, sent_message, status):
    twilio.deliver(payloads.twilio_status(sent_message.provider_message_id, status))

    assert status_of(sent_message) == "sent"
    assert one(WebhookEvent).state == "processed"


def test_a_callback_for_a_message_we_do_not_know_changes_nothing(twilio, sent_message):
    response = twilio.deliver(payloads.twilio_status(payloads.sid("SM"), "delivered"))

    assert response.status_code == 200
    assert status_of(sent_message) == "sent"
    assert count(Message) == 1


def test_a_callback_cannot_touch_another_tenants_message(twilio, sent_message, db):
    other = factories.make_tenant(name="Globex")
    theirs = factories.make_message(
        conversation=factories.make_conversation(tenant=other),
        direction="outbound",
        delivery_status="sent",
        provider_message_id=payloads.sid("SM"),
    )

    twilio.deliver(payloads.twilio_status(theirs.provider_message_id, "failed", error_code="30003"))

    assert status_of(theirs) == "sent"


def test_a_messaging_service_status_callback_updates_the_message(twilio, sent_message):
    params = payloads.twilio_status(
        sent_message.provider_message_id, "delivered", From="+15005550001", MessagingServiceSid=payloads.SERVICE_SID
    )

    assert twilio.deliver(params).status_code == 200
    assert status_of(sent_message) == "delivered"


def test_whatsapp_read_receipts_arrive_as_read(twilio, twilio_tenant):
    contact = factories.make_contact(tenant=twilio_tenant, phone=payloads.CUSTOMER)
    message = factories.make_message(
        conversation=factories.make_conversation(tenant=twilio_tenant, contact=contact, channel="whatsapp"),
        direction="outbound",
        provider_message_id=payloads.sid("SM"),
    )
    whatsapp = {"From": f"whatsapp:{payloads.TWILIO_NUMBER}", "To": f"whatsapp:{payloads.CUSTOMER}"}

    twilio.deliver(payloads.twilio_status(message.provider_message_id, "delivered", **whatsapp))
    twilio.deliver(payloads.twilio_status(message.provider_message_id, "read", **whatsapp))

    assert status_of(message) == "read"


def test_a_report_that_overtakes_our_own_record_of_the_send_is_applied_on_retry(twilio, twilio_tenant, db):
    """Twilio can call back before our worker has stored the SID its send answered with."""
    early_sid = payloads.sid("SM")
    twilio.deliver(payloads.twilio_status(early_sid, "delivered"))
    event = one(WebhookEvent, WebhookEvent.event_key == f"{early_sid}:delivered")
    assert event.state == "failed"  # kept, with its reason, for the retry task

    contact = factories.make_contact(tenant=twilio_tenant, phone=payloads.CUSTOMER)
    conversation = factories.make_conversation(tenant=twilio_tenant, contact=contact)
    message = factories.make_message(
        conversation=conversation, direction="outbound", delivery_status="sent", provider_message_id=early_sid
    )
    assert webhook_events.process_event(event.id, force=True) == "processed"

    assert status_of(message) == "delivered"


def test_a_callback_for_a_send_whose_answer_never_came_adopts_it_by_our_reference(twilio, twilio_tenant):
    """The worker timed out waiting for Twilio (issue 10): the message is claimed, pending, without a SID.
    Twilio's status callback names it in the URL we gave it, so the message takes the SID once."""
    contact = factories.make_contact(tenant=twilio_tenant, phone=payloads.CUSTOMER)
    conversation = factories.make_conversation(tenant=twilio_tenant, contact=contact)
    message = factories.make_message(
        conversation=conversation, direction="outbound", delivery_status="pending", claimed_at=utcnow()
    )
    sid = payloads.sid("SM")

    twilio.deliver(payloads.twilio_status(sid, "delivered"), query=f"?ref={message.id}")

    stored = one(Message, Message.id == message.id)
    assert (stored.delivery_status, stored.provider_message_id) == ("delivered", sid)
    assert one(WebhookEvent).state == "processed"
