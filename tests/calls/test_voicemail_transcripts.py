"""Voicemail transcripts: our <Record> asks Twilio to transcribe, and the words become the body."""

import itertools
from xml.etree import ElementTree

import pytest

from app.models import Message, WebhookEvent
from tests.rows import count
from tests.webhooks import payloads

WORDS = "Hi, it's Ann. Please call me back about the order."


def transcription(call_sid, recording_sid, *, status="completed", text=WORDS, transcription_sid=None):
    """<Record transcribeCallback>: the call's parameters, the recording's, and the transcription's."""
    return payloads.twilio_call(
        call_sid,
        status="completed",
        TranscriptionSid=transcription_sid or payloads.sid("TR"),
        TranscriptionText=text,
        TranscriptionStatus=status,
        TranscriptionUrl=f"https://api.twilio.com/2010-04-01/Accounts/{payloads.ACCOUNT_SID}/Transcriptions/TR1",
        TranscriptionType="fast",
        RecordingSid=recording_sid,
        RecordingUrl=payloads.recording_url(recording_sid),
    )


def voicemail_message(tenant) -> Message:
    (message,) = Message.query.filter_by(tenant_id=tenant.id).all()
    return message


def test_the_voicemail_prompt_asks_for_a_transcript(twilio):
    response = twilio.post(payloads.twilio_call(payloads.sid("CA")))

    record = ElementTree.fromstring(response.data).find("Record")
    assert record.get("transcribe") == "true"
    assert record.get("transcribeCallback") == "https://api.example.test/webhooks/twilio/voice/transcription"
    assert int(record.get("maxLength")) <= 120  # Twilio transcribes recordings of up to two minutes


# The call's own request always comes first (Twilio asks it for the TwiML that records); the
# recording, the transcription and the final status can then arrive, or be processed, in any order.
@pytest.mark.parametrize("order", [(0, *rest) for rest in itertools.permutations(range(1, 4))])
def test_every_order_ends_in_one_voicemail_whose_body_is_its_words(twilio, tenant, order):
    call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")
    events = [
        (payloads.twilio_call(call_sid), "/webhooks/twilio"),
        (payloads.twilio_recording_status(call_sid, recording_sid, duration=40), "/webhooks/twilio/voice/recording"),
        (transcription(call_sid, recording_sid), "/webhooks/twilio/voice/transcription"),
        (payloads.twilio_call_status(call_sid, "completed", duration=55), "/webhooks/twilio"),
    ]

    for index in order:
        params, path = events[index]
        assert twilio.deliver(params, path=path).status_code == 200

    message = voicemail_message(tenant)
    assert message.body == f"Voicemail, 40 s: {WORDS}"
    assert message.transcript == WORDS
    assert message.recording_url == payloads.recording_url(recording_sid)


def test_a_redelivered_transcription_is_stored_once(twilio, tenant):
    call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")
    twilio.deliver(payloads.twilio_call(call_sid))
    twilio.deliver(payloads.twilio_recording_status(call_sid, recording_sid, duration=12))
    params = transcription(call_sid, recording_sid, transcription_sid=payloads.sid("TR"))

    twilio.deliver(params, path="/webhooks/twilio/voice/transcription")
    twilio.deliver(params, path="/webhooks/twilio/voice/transcription")

    assert count(WebhookEvent, WebhookEvent.event_type == "call.transcription") == 1
    assert voicemail_message(tenant).body == f"Voicemail, 12 s: {WORDS}"


def test_a_failed_transcription_leaves_the_voicemail_as_it_was(twilio, tenant):
    call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")
    twilio.deliver(payloads.twilio_call(call_sid))
    twilio.deliver(payloads.twilio_recording_status(call_sid, recording_sid, duration=12))

    twilio.deliver(
        transcription(call_sid, recording_sid, status="failed", text=""), path="/webhooks/twilio/voice/transcription"
    )

    message = voicemail_message(tenant)
    assert (message.body, message.transcript) == ("Voicemail, 12 s", None)


def test_the_inbox_preview_shows_the_words(twilio, api, tenant):
    call_sid, recording_sid = payloads.sid("CA"), payloads.sid("RE")
    twilio.deliver(payloads.twilio_call(call_sid))
    twilio.deliver(payloads.twilio_recording_status(call_sid, recording_sid, duration=12))
    twilio.deliver(transcription(call_sid, recording_sid), path="/webhooks/twilio/voice/transcription")

    (conversation,) = api.get("/api/v1/conversations").json["data"]

    assert conversation["last_message"]["body"] == f"Voicemail, 12 s: {WORDS}"


def test_an_unsigned_transcription_is_refused(twilio, tenant):
    params = transcription(payloads.sid("CA"), payloads.sid("RE"))

    response = twilio.post(params, path="/webhooks/twilio/voice/transcription", signature="bad")

    assert response.status_code == 403
    assert count(Message, Message.tenant_id == tenant.id) == 0
