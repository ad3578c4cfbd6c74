"""A provider's signed delivery is never refused for its bytes, and its size is bounded before it is read."""

import json

import pytest

from app.models import Message, WebhookEvent
from tests.webhooks import payloads
from tests.webhooks.conftest import FakeTwilio, all_rows, count, make_twilio_tenant, one

ODD_BODIES = ["before\u0000after", "lone \ud800 surrogate", "\u0000"]
# A form post is UTF-8 bytes, which cannot spell a lone surrogate (werkzeug decodes bad bytes as U+FFFD).
ODD_FORM_BODIES = ["before\u0000after", "\u0000", "\u0000\u0000 emoji \U0001f600"]


@pytest.mark.parametrize("body", ODD_FORM_BODIES)
def test_a_signed_twilio_sms_with_any_bytes_is_stored_exactly_once(twilio, body):
    params = payloads.twilio_sms(body=body)

    first = twilio.deliver(params)
    again = twilio.deliver(params)  # Twilio retries when it is unsure: the same event changes nothing

    assert (first.status_code, again.status_code) == (200, 200)
    message = one(Message)
    assert "\u0000" not in message.body
    assert message.body == body.replace("\u0000", "\ufffd")
    assert count(WebhookEvent) == 1


def test_a_twilio_sms_with_a_nul_keeps_the_rest_of_its_text(twilio):
    twilio.deliver(payloads.twilio_sms(body="Call me at 5\u0000pm"))

    assert one(Message).body == "Call me at 5\ufffdpm"


@pytest.mark.parametrize("body", ODD_BODIES)
def test_a_signed_ghl_message_with_any_bytes_is_stored_exactly_once(ghl, body):
    payload = payloads.ghl_inbound(body=body)

    first = ghl.deliver(payload)
    again = ghl.deliver(payload)

    assert (first.status_code, first.json) == (200, {"status": "accepted"})
    assert (again.status_code, again.json) == (200, {"status": "duplicate"})
    assert one(Message).body == body.replace("\u0000", "\ufffd").replace("\ud800", "\ufffd")
    assert count(WebhookEvent) == 1


def test_a_ghl_event_with_a_nul_in_a_key_is_stored(ghl):
    payload = payloads.ghl_inbound(body="Hello", extra={"we\u0000ird": ["\u0000"]})

    response = ghl.deliver(payload)

    assert response.json == {"status": "accepted"}
    assert one(WebhookEvent).payload["extra"] == {"we\ufffdird": ["\ufffd"]}


def test_an_oversized_twilio_post_is_a_413_before_anything_is_stored(twilio):
    response = twilio.post(payloads.twilio_sms(body="x" * 70_000))

    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert count(WebhookEvent) == 0


def test_an_oversized_ghl_post_is_a_413_unsigned_or_not(ghl):
    response = ghl.post(payloads.ghl_inbound(body="x" * 300_000))

    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert count(WebhookEvent) == 0


def test_a_ghl_event_holding_nan_is_a_400_not_a_retry_forever(ghl):
    raw = json.dumps(payloads.ghl_inbound(body="hi")).replace('"attachments": []', '"attachments": NaN').encode()

    response = ghl.post(raw=raw)

    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_json"
    assert count(WebhookEvent) == 0


def test_a_ghl_event_nested_too_deep_to_parse_is_a_400(ghl):
    response = ghl.post(raw=b"[" * 50_000)

    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_json"


def test_another_tenant_cannot_get_a_genuine_event_dropped_as_its_duplicate(twilio, twilio_tenant, client, worker):
    """Globex (its own Twilio account) learns one of Acme's MessageSids and sends it first."""
    other_sid = "AC" + "c3" * 16
    globex = make_twilio_tenant(
        name="Globex", account_sid=other_sid, auth_token=payloads.OTHER_AUTH_TOKEN, twilio_phone_number="+15005550077"
    )
    genuine = payloads.twilio_sms(body="Acme's real message")
    forged = {**genuine, "AccountSid": other_sid, "To": "+15005550077", "Body": "Globex first"}
    assert FakeTwilio(client, worker, payloads.OTHER_AUTH_TOKEN).deliver(forged).status_code == 200

    response = twilio.deliver(genuine)

    assert response.status_code == 200
    assert sorted(e.tenant_id for e in all_rows(WebhookEvent)) == sorted([globex.id, twilio_tenant.id])
    assert one(Message, Message.tenant_id == twilio_tenant.id).body == "Acme's real message"


def test_a_redelivery_to_the_same_tenant_is_still_a_duplicate(twilio, twilio_tenant):
    params = payloads.twilio_sms()

    twilio.deliver(params)
    twilio.deliver(params)

    assert count(WebhookEvent) == 1
    assert count(Message) == 1
