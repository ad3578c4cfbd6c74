"""Inbound calls: answered with TwiML (forward, or voicemail), then recorded as `voice` messages."""

from xml.etree import ElementTree

import pytest

from app.models import Contact, Conversation, Message, WebhookEvent
from tests.webhooks import payloads
from tests.webhooks.conftest import FakeTwilio, all_rows, count, make_twilio_tenant, one

BASE = "https://api.example.test"


def twiml(response) -> ElementTree.Element:
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    root = ElementTree.fromstring(response.data)
    assert root.tag == "Response"
    return root


def verbs(root: ElementTree.Element) -> list[str]:
    return [child.tag for child in root]


@pytest.fixture
def forwarding(twilio_tenant, db):
    twilio_tenant.forwarding_phone_number = payloads.FORWARD_TO
    db.session.commit()
    return payloads.FORWARD_TO


class TestAnsweringACall:
    def test_a_tenant_with_a_forwarding_number_rings_it(self, twilio, forwarding):
        root = twiml(twilio.post(payloads.twilio_call(payloads.sid("CA"))))

        assert verbs(root) == ["Dial"]
        dial = root.find("Dial")
        assert dial.text == forwarding
        assert dial.get("action") == f"{BASE}/webhooks/twilio/voice/dialed"

    def test_without_a_forwarding_number_the_caller_is_offered_voicemail(self, twilio):
        root = twiml(twilio.post(payloads.twilio_call(payloads.sid("CA"))))

        assert verbs(root) == ["Say", "Record"]
        record = root.find("Record")
        assert record.get("recordingStatusCallback") == f"{BASE}/webhooks/twilio/voice/recording"
        assert record.get("action") == f"{BASE}/webhooks/twilio/voice/recorded"

    def test_nobody_answering_the_forwarded_call_leads_to_voicemail(self, twilio, forwarding):
        call_sid = payloads.sid("CA")
        twilio.post(payloads.twilio_call(call_sid))

        root = twiml(
            twilio.post(payloads.twilio_dial_action(call_sid, "no-answer"), path="/webhooks/twilio/voice/dialed")
        )

        assert verbs(root) == ["Say", "Record"]

    def test_a_forwarded_call_that_was_answered_hangs_up_when_it_ends(self, twilio, forwarding):
        call_sid = payloads.sid("CA")
        twilio.post(payloads.twilio_call(call_sid))

        root = twiml(
            twilio.post(payloads.twilio_dial_action(call_sid, "completed"), path="/webhooks/twilio/voice/dialed")
        )

        assert verbs(root) == ["Hangup"]

    @pytest.mark.parametrize("with_forwarding", [False, True])
    def test_after_the_voicemail_is_recorded_the_call_hangs_up_instead_of_ringing_again(
        self, twilio, twilio_tenant, db, with_forwarding
    ):
        # <Record action> comes back with the standard call parameters, RecordingUrl and
        # RecordingDuration (no RecordingSid in Twilio's list): it must end the call, not start it over.
        if with_forwarding:
            twilio_tenant.forwarding_phone_number = payloads.FORWARD_TO
            db.session.commit()
        call_sid = payloads.sid("CA")
        twilio.post(payloads.twilio_call(call_sid))

        action = payloads.twilio_record_action(call_sid, payloads.sid("RE"))
        root = twiml(twilio.post(action, path="/webhooks/twilio/voice/recorded"))

        assert verbs(root) == ["Hangup"]

    def test_a_redelivered_call_request_gets_the_same_answer(self, twilio, forwarding):
        params = payloads.twilio_call(payloads.sid("CA"))

        first, second = twilio.post(params), twilio.post(params)

        assert first.data == second.data
        assert count(WebhookEvent) == 1

    def test_an_unsigned_call_is_refused_without_twiml(self, twilio):
        response = twilio.post(payloads.twilio_call(payloads.sid("CA")), signature="")

        assert response.status_code == 403
        assert count(WebhookEvent) == 0


class TestRecordingTheCall:
    def test_an_inbound_call_becomes_an_unread_voice_message(self, twilio, twilio_tenant):
        call_sid = payloads.sid("CA")

        twilio.deliver(payloads.twilio_call(call_sid))

        message = one(Message)
        assert (message.channel, message.direction, message.provider_message_id) == ("voice", "inbound", call_sid)
        assert message.read_at is None
        assert one(Conversation).channel == "voice"
        assert one(Contact).phone == payloads.CUSTOMER

    def test_the_call_status_callback_records_the_duration(self, twilio):
        call_sid = payloads.sid("CA")
        twilio.deliver(payloads.twilio_call(call_sid))

        twilio.deliver(payloads.twilio_call_status(call_sid, "completed", duration=95))

        message = one(Message)
        assert message.call_duration_seconds == 95
        assert "95" in message.body

    @pytest.mark.parametrize("status", ["no-answer", "busy", "canceled", "failed"])
    def test_a_missed_call_says_so(self, twilio, status):
        call_sid = payloads.sid("CA")
        twilio.deliver(payloads.twilio_call(call_sid))

        twilio.deliver(payloads.twilio_call_status(call_sid, status, duration=0))

        message = one(Message)
        assert message.call_duration_seconds == 0
        assert status in message.body

    def test_the_voicemail_recording_is_kept_on_the_calls_message(self, twilio):
        call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")
        twilio.deliver(payloads.twilio_call(call_sid))

        twilio.deliver(
            payloads.twilio_recording_status(call_sid, recording_sid, duration=17),
            path="/webhooks/twilio/voice/recording",
        )
        twilio.deliver(payloads.twilio_call_status(call_sid, "completed", duration=30))

        message = one(Message)
        assert message.recording_url == payloads.recording_url(recording_sid)
        assert message.call_duration_seconds == 30
        assert message.body.startswith("Voicemail")

    def test_the_record_action_alone_is_enough_to_keep_the_recording(self, twilio):
        call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")
        twilio.deliver(payloads.twilio_call(call_sid))

        twilio.deliver(payloads.twilio_record_action(call_sid, recording_sid), path="/webhooks/twilio/voice/recorded")

        assert one(Message).recording_url == payloads.recording_url(recording_sid)

    def test_the_record_action_and_the_recording_callback_are_one_event(self, twilio):
        call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")
        twilio.deliver(payloads.twilio_call(call_sid))

        twilio.deliver(payloads.twilio_record_action(call_sid, recording_sid), path="/webhooks/twilio/voice/recorded")
        twilio.deliver(
            payloads.twilio_recording_status(call_sid, recording_sid), path="/webhooks/twilio/voice/recording"
        )

        assert count(WebhookEvent) == 2  # the call, and its recording once
        assert count(Message) == 1

    def test_the_call_status_and_the_record_action_do_not_shadow_each_other(self, twilio):
        call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")
        twilio.deliver(payloads.twilio_call(call_sid))
        action = payloads.twilio_record_action(call_sid, recording_sid)
        action["CallStatus"] = "completed"  # the caller hung up to end the recording

        twilio.deliver(action, path="/webhooks/twilio/voice/recorded")
        twilio.deliver(payloads.twilio_call_status(call_sid, "completed", duration=25))

        message = one(Message)
        assert (message.recording_url, message.call_duration_seconds) == (payloads.recording_url(recording_sid), 25)

    def test_callbacks_overtaking_the_call_itself_still_make_one_message(self, twilio):
        call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")

        twilio.deliver(payloads.twilio_call_status(call_sid, "completed", duration=12))
        twilio.deliver(payloads.twilio_record_action(call_sid, recording_sid), path="/webhooks/twilio/voice/recorded")
        twilio.deliver(payloads.twilio_call(call_sid))

        message = one(Message)
        assert (message.call_duration_seconds, message.recording_url) == (12, payloads.recording_url(recording_sid))

    def test_a_second_call_from_the_same_person_joins_the_voice_conversation(self, twilio):
        twilio.deliver(payloads.twilio_call(payloads.sid("CA")))
        twilio.deliver(payloads.twilio_call(payloads.sid("CA")))

        assert count(Conversation) == 1
        assert count(Message) == 2


def test_a_recording_callback_on_an_account_shared_by_tenants_finds_the_call_s_tenant(db, client, worker):
    # The recording status callback carries no From or To: the call it belongs to says whose it is.
    make_twilio_tenant(name="Other", twilio_phone_number="+15005550011")
    mine = make_twilio_tenant(name="Mine", twilio_phone_number="+15005550022")
    twilio = FakeTwilio(client, worker)
    call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")
    twilio.deliver(payloads.twilio_call(call_sid, to="+15005550022"))

    response = twilio.deliver(
        payloads.twilio_recording_status(call_sid, recording_sid), path="/webhooks/twilio/voice/recording"
    )

    assert response.status_code == 200
    assert [e.tenant_id for e in all_rows(WebhookEvent)] == [mine.id, mine.id]
    assert one(Message).recording_url == payloads.recording_url(recording_sid)


def test_a_messaging_service_only_tenant_does_not_claim_callbacks_that_name_no_number(db, client, worker):
    # That tenant has no phone number of its own; a callback without From/To must not match "no number".
    make_twilio_tenant(name="ServiceOnly", twilio_phone_number=None, twilio_messaging_service_sid=payloads.SERVICE_SID)
    mine = make_twilio_tenant(name="Mine", twilio_phone_number="+15005550022")
    twilio = FakeTwilio(client, worker)
    call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")
    twilio.deliver(payloads.twilio_call(call_sid, to="+15005550022"))

    twilio.deliver(payloads.twilio_recording_status(call_sid, recording_sid), path="/webhooks/twilio/voice/recording")

    assert [e.tenant_id for e in all_rows(WebhookEvent)] == [mine.id, mine.id]
    assert one(Message).recording_url == payloads.recording_url(recording_sid)
