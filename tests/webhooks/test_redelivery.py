"""Every event is keyed by the provider's id: N deliveries (and replays) change what one delivery changed."""

import pytest

from app.models import Message, WebhookEvent
from app.services import webhook_events
from tests import factories
from tests.webhooks import payloads
from tests.webhooks.conftest import all_rows, count, one, snapshot

DELIVERIES = 4

CALL_SID, RECORDING_SID = payloads.sid("CA"), payloads.sid("RE")
OUR_SMS_SID, OUR_GHL_ID = payloads.sid("SM"), payloads.ghl_id()

TWILIO_EVENTS = {
    "inbound sms": (payloads.twilio_sms(), "/webhooks/twilio"),
    "inbound stop": (payloads.twilio_sms(body="STOP"), "/webhooks/twilio"),
    "inbound mms": (
        payloads.twilio_mms(
            [("https://api.twilio.com/m/1", "image/jpeg"), ("https://api.twilio.com/m/2", "image/png")]
        ),
        "/webhooks/twilio",
    ),
    "inbound whatsapp": (payloads.twilio_whatsapp(), "/webhooks/twilio"),
    "status delivered": (payloads.twilio_status(OUR_SMS_SID, "delivered"), "/webhooks/twilio/status"),
    "status failed (STOP)": (payloads.twilio_status(OUR_SMS_SID, "failed", error_code="21610"), "/webhooks/twilio"),
    "inbound call": (payloads.twilio_call(CALL_SID), "/webhooks/twilio/voice"),
    "dial action": (payloads.twilio_dial_action(CALL_SID), "/webhooks/twilio/voice/dialed"),
    "call status": (payloads.twilio_call_status(CALL_SID, duration=33), "/webhooks/twilio/voice/status"),
    "record action": (payloads.twilio_record_action(CALL_SID, RECORDING_SID), "/webhooks/twilio/voice/recorded"),
    "recording status": (
        payloads.twilio_recording_status(CALL_SID, RECORDING_SID),
        "/webhooks/twilio/voice/recording",
    ),
}

# Recording status callbacks carry no From: they complete a call already stored (the call's own request
# always comes first; see test_durability for one that overtakes it).
TWILIO_PRELUDES = {"recording status": (payloads.twilio_call(CALL_SID), "/webhooks/twilio/voice")}

GHL_EVENTS = {
    "InboundMessage": payloads.ghl_inbound(),
    "InboundMessage STOP": payloads.ghl_inbound(body="STOP"),
    "InboundMessage call": payloads.ghl_call(),
    "OutboundMessage ours": payloads.ghl_outbound(message_id=OUR_GHL_ID, status="delivered"),
    "OutboundMessage by staff": payloads.ghl_outbound(status="sent"),
    "ContactDndUpdate": payloads.ghl_dnd(dnd=True),
    **{
        name: {"type": name, "locationId": payloads.LOCATION_ID, "contactId": payloads.GHL_CONTACT_ID, **fields}
        for name, fields in {
            "IncomingSMS": {"messageId": "legacy-sms-1", "body": "hi"},
            "sms.inbound": {"messageId": "legacy-sms-2", "body": "hi"},
            "IncomingCall": {"messageId": "legacy-call-1", "status": "ringing"},
            "call.inbound": {"messageId": "legacy-call-2", "status": "ringing"},
            "CallCompleted": {"messageId": "legacy-call-3", "status": "completed", "callDuration": 9},
            "call.completed": {"messageId": "legacy-call-4", "status": "completed", "callDuration": 9},
            "SMSDelivered": {"messageId": OUR_GHL_ID},
            "sms.delivered": {"messageId": OUR_GHL_ID},
            "SMSFailed": {"messageId": OUR_GHL_ID, "status": "failed"},
            "sms.failed": {"messageId": OUR_GHL_ID},
        }.items()
    },
}


def fresh(payload: dict) -> dict:
    """The event as GHL sends it now: built at import, its `timestamp` could be stale by the time a test runs."""
    return {**payload, "timestamp": payloads.ghl_timestamp()} if "timestamp" in payload else payload


def deliver_twilio(twilio, name):
    if name in TWILIO_PRELUDES:
        params, path = TWILIO_PRELUDES[name]
        twilio.deliver(params, path=path)
    params, path = TWILIO_EVENTS[name]
    return twilio.deliver(params, path=path)


def a_sent_message(tenant, **ids) -> Message:
    contact = factories.make_contact(
        tenant=tenant, phone=payloads.CUSTOMER, ghl_contact_id=payloads.GHL_CONTACT_ID, first_name="Pat"
    )
    return factories.make_message(
        conversation=factories.make_conversation(tenant=tenant, contact=contact),
        direction="outbound",
        delivery_status="sent",
        **ids,
    )


@pytest.mark.parametrize("name", TWILIO_EVENTS)
def test_a_redelivered_twilio_event_changes_nothing(twilio, twilio_tenant, name):
    a_sent_message(twilio_tenant, provider_message_id=OUR_SMS_SID)
    first = deliver_twilio(twilio, name)
    assert {e.state for e in all_rows(WebhookEvent)} == {"processed"}
    events = count(WebhookEvent)
    after_one = snapshot()

    params, path = TWILIO_EVENTS[name]
    again = [twilio.deliver(params, path=path) for _ in range(DELIVERIES - 1)]

    assert first.status_code == 200
    assert [r.status_code for r in again] == [200] * (DELIVERIES - 1)
    assert [r.data for r in again] == [first.data] * (DELIVERIES - 1)  # Twilio gets the same TwiML
    assert count(WebhookEvent) == events
    assert snapshot() == after_one


@pytest.mark.parametrize("name", GHL_EVENTS)
def test_a_redelivered_ghl_event_changes_nothing(ghl, ghl_tenant, name):
    a_sent_message(ghl_tenant, ghl_message_id=OUR_GHL_ID)
    payload = fresh(GHL_EVENTS[name])
    first = ghl.deliver(payload)
    assert one(WebhookEvent).state == "processed"
    after_one = snapshot()

    again = [ghl.deliver(payload) for _ in range(DELIVERIES - 1)]

    assert first.json == {"status": "accepted"}
    assert [r.json for r in again] == [{"status": "duplicate"}] * (DELIVERIES - 1)
    assert count(WebhookEvent) == 1
    assert snapshot() == after_one


@pytest.mark.parametrize("name", [*TWILIO_EVENTS, *GHL_EVENTS])
def test_replaying_a_processed_event_changes_nothing(twilio, ghl, twilio_tenant, ghl_tenant, name):
    # One tenant per provider; the sent message belongs to whichever the event is for.
    if name in TWILIO_EVENTS:
        a_sent_message(twilio_tenant, provider_message_id=OUR_SMS_SID)
        deliver_twilio(twilio, name)
    else:
        a_sent_message(ghl_tenant, ghl_message_id=OUR_GHL_ID)
        ghl.deliver(fresh(GHL_EVENTS[name]))
    event = all_rows(WebhookEvent)[-1]
    assert event.state == "processed"
    after_one = snapshot()

    outcomes = [webhook_events.process_event(event.id, force=True) for _ in range(DELIVERIES - 1)]

    assert outcomes == ["processed"] * (DELIVERIES - 1)
    assert snapshot() == after_one


def test_the_same_ghl_message_under_a_new_webhook_id_is_still_one_message(ghl):
    payload = payloads.ghl_inbound()
    ghl.deliver(payload)

    ghl.deliver({**payload, "webhookId": payloads.ghl_id()})

    assert count(WebhookEvent) == 2
    assert count(Message) == 1
