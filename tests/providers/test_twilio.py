"""The Twilio adapter, against a local fake of the REST API (the `responses` library; no network)."""

import base64
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
import requests
import responses

from app.providers.base import DELIVERED, FAILED, READ, SENT, OutboundMessage, ProviderError, Recipient
from app.providers.twilio import (
    IN_FLIGHT_STATUSES,
    RebasedHttpClient,
    TwilioProvider,
    classify_twilio_error,
    twilio_status_to_ours,
)
from tests.providers import spec
from tests.providers.network import refused

SPEC = "twilio/twilio_api_v2010.json"
BASE = "http://twilio.fake"
ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "secret-token"
SERVICE_SID = "MG" + "b2" * 16
MESSAGE_SID = "SM" + "c3" * 16
MESSAGES_URL = f"{BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
MESSAGE_URL = f"{BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{MESSAGE_SID}.json"


@pytest.fixture
def fake_twilio():
    # Unmatched requests raise ConnectionError: nothing can leak to the real API.
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def provider(**overrides) -> TwilioProvider:
    settings = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "phone_number": "+15005550006",
        "messaging_service_sid": None,
        "api_base_url": BASE,
        "timeout": 7.5,
        "status_callback_url": "https://api.example.com/webhooks/twilio/status",
    }
    return TwilioProvider(**(settings | overrides))


def outbound(channel="sms", media=(), reference=None) -> OutboundMessage:
    return OutboundMessage(
        channel=channel,
        recipient=Recipient(phone="+14155552345"),
        body="Your table is ready",
        media_urls=tuple(media),
        reference=reference,
    )


def message_resource(status="queued", error_code=None, error_message=None) -> dict:
    return {
        "account_sid": ACCOUNT_SID,
        "sid": MESSAGE_SID,
        "status": status,
        "error_code": error_code,
        "error_message": error_message,
        "body": "Your table is ready",
        "direction": "outbound-api",
    }


def sent_form(call) -> dict[str, list[str]]:
    return parse_qs(call.request.body)


def test_send_posts_the_form_to_the_messages_endpoint_on_the_configured_base_url(fake_twilio):
    fake_twilio.post(MESSAGES_URL, json=message_resource("queued"), status=201)

    receipt = provider().send(outbound())

    assert receipt.provider_message_id == MESSAGE_SID
    assert receipt.status == SENT
    (call,) = fake_twilio.calls
    assert call.request.url == MESSAGES_URL
    assert sent_form(call) == {
        "To": ["+14155552345"],
        "From": ["+15005550006"],
        "Body": ["Your table is ready"],
        "StatusCallback": ["https://api.example.com/webhooks/twilio/status"],
    }
    spec.assert_matches(SPEC, "CreateMessage", call.request)


def test_send_authenticates_with_the_account_sid_and_auth_token(fake_twilio):
    fake_twilio.post(MESSAGES_URL, json=message_resource(), status=201)

    provider().send(outbound())

    expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert fake_twilio.calls[0].request.headers["Authorization"] == f"Basic {expected}"


def test_the_messaging_service_wins_over_the_phone_number(fake_twilio):
    fake_twilio.post(MESSAGES_URL, json=message_resource(), status=201)

    provider(messaging_service_sid=SERVICE_SID).send(outbound())

    form = sent_form(fake_twilio.calls[0])
    assert form["MessagingServiceSid"] == [SERVICE_SID]
    assert "From" not in form
    spec.assert_matches(SPEC, "CreateMessage", fake_twilio.calls[0].request)


def test_every_media_url_is_sent_as_its_own_media_url_parameter(fake_twilio):
    fake_twilio.post(MESSAGES_URL, json=message_resource(), status=201)
    media = [f"https://cdn.example.com/photo{i}.jpg" for i in range(10)]

    provider().send(outbound(media=media))

    assert sent_form(fake_twilio.calls[0])["MediaUrl"] == media
    spec.assert_matches(SPEC, "CreateMessage", fake_twilio.calls[0].request)


def test_more_than_ten_media_urls_are_refused_before_calling_twilio(fake_twilio):
    media = [f"https://cdn.example.com/photo{i}.jpg" for i in range(11)]

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound(media=media))

    assert raised.value.code == "too_many_media" and not raised.value.transient
    assert len(fake_twilio.calls) == 0


def test_a_message_without_status_callback_sends_none(fake_twilio):
    fake_twilio.post(MESSAGES_URL, json=message_resource(), status=201)

    provider(status_callback_url=None).send(outbound())

    assert "StatusCallback" not in sent_form(fake_twilio.calls[0])


def test_whatsapp_prefixes_both_to_and_from(fake_twilio):
    fake_twilio.post(MESSAGES_URL, json=message_resource(), status=201)

    provider().send(outbound(channel="whatsapp"))

    form = sent_form(fake_twilio.calls[0])
    assert form["To"] == ["whatsapp:+14155552345"]
    assert form["From"] == ["whatsapp:+15005550006"]
    spec.assert_matches(SPEC, "CreateMessage", fake_twilio.calls[0].request)


def test_whatsapp_through_a_messaging_service_prefixes_only_to(fake_twilio):
    fake_twilio.post(MESSAGES_URL, json=message_resource(), status=201)

    provider(messaging_service_sid=SERVICE_SID).send(outbound(channel="whatsapp"))

    form = sent_form(fake_twilio.calls[0])
    assert form["To"] == ["whatsapp:+14155552345"]
    assert "From" not in form


def test_a_tenant_with_no_sender_is_told_to_fix_its_settings(fake_twilio):
    with pytest.raises(ProviderError) as raised:
        provider(phone_number=None).send(outbound())

    assert raised.value.bad_credentials and not raised.value.transient
    assert len(fake_twilio.calls) == 0


def test_an_unknown_channel_is_refused(fake_twilio):
    with pytest.raises(ProviderError) as raised:
        provider().send(outbound(channel="email"))

    assert raised.value.code == "unsupported_channel"


def test_the_http_client_has_the_configured_timeout_and_uses_it(fake_twilio):
    fake_twilio.post(MESSAGES_URL, json=message_resource(), status=201)
    twilio = provider(timeout=7.5)

    twilio.send(outbound())

    assert isinstance(twilio.client.http_client, RebasedHttpClient)
    assert twilio.client.http_client.timeout == 7.5
    assert fake_twilio.calls[0].request.req_kwargs["timeout"] == 7.5


def test_the_default_base_url_is_twilios_own(fake_twilio):
    fake_twilio.post(f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", json=message_resource())

    provider(api_base_url="https://api.twilio.com").send(outbound())

    assert fake_twilio.calls[0].request.url.startswith("https://api.twilio.com/2010-04-01/")


# Error classification (providers.md "Errors worth classifying").
ERRORS = [
    # (HTTP status, Twilio code, transient, opted_out, bad_credentials, our code)
    (400, 21610, False, True, False, "21610"),  # recipient replied STOP
    (400, 21211, False, False, False, "21211"),  # invalid To
    (400, 21614, False, False, False, "21614"),  # not a mobile number
    (400, 21408, False, False, False, "21408"),  # region not enabled
    (400, 21606, False, False, False, "21606"),  # From cannot send SMS
    (400, 21612, False, False, False, "21612"),  # no route From -> To
    (401, 20003, False, False, True, "20003"),  # bad credentials
    (429, 20429, True, False, False, "20429"),  # too many requests
    (400, 21602, False, False, False, "21602"),  # any other 4xx: body required
    (404, 20404, False, False, False, "20404"),
    (500, None, True, False, False, "http_500"),
    (503, None, True, False, False, "http_503"),
    (429, None, True, False, False, "http_429"),
    (401, None, False, False, True, "http_401"),
]


@pytest.mark.parametrize(("status", "code", "transient", "opted_out", "bad_credentials", "our_code"), ERRORS)
def test_twilio_errors_are_classified(fake_twilio, status, code, transient, opted_out, bad_credentials, our_code):
    if code is None:
        fake_twilio.post(MESSAGES_URL, body="<html>upstream trouble</html>", status=status)
    else:
        body = {"code": code, "message": f"Error {code}", "more_info": f"https://www.twilio.com/docs/errors/{code}"}
        fake_twilio.post(MESSAGES_URL, json=body | {"status": status}, status=status)

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound())

    error = raised.value
    assert (error.code, error.transient, error.opted_out, error.bad_credentials) == (
        our_code,
        transient,
        opted_out,
        bad_credentials,
    )
    assert error.details["http_status"] == status
    assert error.rate_limited == (status == 429)


def test_a_429_carries_twilios_retry_after(fake_twilio):
    body = {"code": 20429, "message": "Too Many Requests", "status": 429}
    fake_twilio.post(MESSAGES_URL, json=body, status=429, headers={"Retry-After": "30"})

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound())

    assert raised.value.transient and raised.value.retry_after == 30.0


def test_an_rfc9457_problem_answer_is_classified_too(fake_twilio):
    problem = {
        "type": "https://www.twilio.com/docs/errors/20003",
        "title": "Authenticate",
        "status": 401,
        "code": 20003,
    }
    fake_twilio.post(MESSAGES_URL, json=problem, status=401)

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound())

    assert raised.value.bad_credentials and raised.value.code == "20003"


@pytest.mark.parametrize("failure", [refused(), requests.ConnectTimeout("slow")])
def test_a_send_that_never_reached_twilio_is_transient(fake_twilio, failure):
    fake_twilio.post(MESSAGES_URL, body=failure)

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound())

    assert raised.value.transient and raised.value.code == "network"
    assert not raised.value.outcome_unknown and not raised.value.opted_out and not raised.value.bad_credentials


@pytest.mark.parametrize("failure", [requests.ReadTimeout("slow"), requests.ConnectionError("Connection aborted.")])
def test_a_send_left_without_an_answer_has_an_unknown_outcome_never_a_blind_retry(fake_twilio, failure):
    fake_twilio.post(MESSAGES_URL, body=failure)

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound())

    assert raised.value.outcome_unknown and not raised.value.transient


def test_the_status_callback_names_our_message(fake_twilio):
    fake_twilio.post(MESSAGES_URL, json=message_resource("queued"), status=201)

    provider().send(outbound(reference="42"))

    assert sent_form(fake_twilio.calls[0])["StatusCallback"] == [
        "https://api.example.com/webhooks/twilio/status?ref=42"
    ]


def test_find_sent_lists_the_recipients_messages_and_adopts_the_one_with_our_body(fake_twilio):
    fake_twilio.get(
        MESSAGES_URL,
        json={
            "messages": [
                message_resource(status="delivered") | {"sid": "SMother", "body": "Something else"},
                message_resource(status="sent") | {"sid": "SMours", "body": "Your table is ready"},
            ],
            "next_page_uri": None,
        },
    )

    receipt = provider().find_sent(outbound(), datetime(2020, 1, 1, tzinfo=UTC))

    assert (receipt.provider_message_id, receipt.status) == ("SMours", SENT)
    query = fake_twilio.calls[0].request.url
    assert "To=%2B14155552345" in query and "From=%2B15005550006" in query


def test_find_sent_answers_none_when_twilio_has_no_trace(fake_twilio):
    fake_twilio.get(MESSAGES_URL, json={"messages": [], "next_page_uri": None})

    assert provider().find_sent(outbound(), datetime(2020, 1, 1, tzinfo=UTC)) is None


SENT_AT = "Mon, 30 Nov 2026 12:00:10 +0000"  # our send
SEND_SINCE = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def listed(sid: str, body: str, *, created: str = SENT_AT, sent: str | None = SENT_AT, status="delivered") -> dict:
    return message_resource(status=status) | {"sid": sid, "body": body, "date_created": created, "date_sent": sent}


def list_page(messages: list[dict], next_token: str | None) -> dict:
    path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    next_uri = f"{path}?To=%2B14155552345&PageSize=200&Page=1&PageToken={next_token}" if next_token else None
    return {"messages": messages, "next_page_uri": next_uri, "page_size": 200, "uri": path}


def page_token(token: str):
    return responses.matchers.query_param_matcher({"PageToken": token}, strict_match=False)


def serve_pages(fake_twilio, first: list[dict], second: list[dict] | None = None) -> None:
    """The recipient's messages, newest first, on one page or two (the second one by its PageToken)."""
    if second is not None:  # registered first: the request carrying the token matches it before the other
        fake_twilio.get(MESSAGES_URL, json=list_page(second, None), match=[page_token("PT2")])
    fake_twilio.get(MESSAGES_URL, json=list_page(first, "PT2" if second is not None else None))


def test_find_sent_pages_on_when_a_busy_recipient_has_more_recent_messages_than_one_page(fake_twilio):
    serve_pages(
        fake_twilio,
        [listed(f"SMother{i}", f"Reminder {i}") for i in range(200)],
        [listed("SMours", "Your table is ready", status="sent")],
    )

    receipt = provider().find_sent(outbound(), SEND_SINCE)

    assert (receipt.provider_message_id, receipt.status) == ("SMours", SENT)
    assert len(fake_twilio.calls) == 2
    for call in fake_twilio.calls:
        spec.assert_matches(SPEC, "ListMessage", call.request)
        assert "DateSent" not in call.request.url  # a message Twilio still queues has no date_sent


def test_find_sent_stops_at_messages_created_and_sent_before_the_send(fake_twilio):
    old = "Sun, 29 Nov 2026 09:00:00 +0000"
    serve_pages(fake_twilio, [listed(f"SMold{i}", f"Reminder {i}", created=old, sent=old) for i in range(200)])

    assert provider().find_sent(outbound(), SEND_SINCE) is None

    assert len(fake_twilio.calls) == 1  # the next page is older still: never asked for


def test_find_sent_walks_past_an_old_message_twilio_still_queues(fake_twilio):
    old = "Mon, 30 Nov 2026 03:00:00 +0000"  # a long code's backlog: created hours ago, not sent yet
    serve_pages(
        fake_twilio,
        [listed("SMqueued", "Reminder", created=old, sent=None, status="queued")],
        [listed("SMours", "Your table is ready", status="sent")],
    )

    receipt = provider().find_sent(outbound(), SEND_SINCE)

    assert receipt.provider_message_id == "SMours"


def test_find_sent_does_not_adopt_an_older_message_with_the_same_body(fake_twilio):
    earlier = "Mon, 30 Nov 2026 11:00:00 +0000"
    serve_pages(fake_twilio, [listed("SMyesterday", "Your table is ready", created=earlier, sent=earlier)])

    assert provider().find_sent(outbound(), SEND_SINCE) is None


def test_classification_without_an_answer_is_a_network_error():
    error = classify_twilio_error(None, None, "boom")
    assert error.transient and error.code == "network"


# Status mapping: every status of the spec's message_enum_status is either final or in flight.
FINAL = {
    "sent": SENT,
    "delivered": DELIVERED,
    "partially_delivered": DELIVERED,
    "read": READ,
    "undelivered": FAILED,
    "failed": FAILED,
    "canceled": FAILED,
}


def test_every_twilio_status_in_the_spec_is_mapped():
    statuses = set(spec.load(SPEC)["components"]["schemas"]["message_enum_status"]["enum"])
    assert statuses == set(FINAL) | IN_FLIGHT_STATUSES


@pytest.mark.parametrize(("twilio_status", "ours"), sorted(FINAL.items()))
def test_final_twilio_statuses_map_to_ours(twilio_status, ours):
    assert twilio_status_to_ours(twilio_status) == ours


@pytest.mark.parametrize("twilio_status", sorted(IN_FLIGHT_STATUSES) + ["", None, "something-new"])
def test_in_flight_and_unknown_twilio_statuses_say_nothing_yet(twilio_status):
    assert twilio_status_to_ours(twilio_status) is None


@pytest.mark.parametrize("twilio_status", ["accepted", "scheduled", "queued", "sending"])
def test_a_send_still_queued_at_twilio_has_left_us(fake_twilio, twilio_status):
    fake_twilio.post(MESSAGES_URL, json=message_resource(twilio_status), status=201)

    assert provider().send(outbound()).status == SENT


def test_fetch_status_reads_the_message_and_maps_it(fake_twilio):
    fake_twilio.get(MESSAGE_URL, json=message_resource("delivered"))

    report = provider().fetch_status(MESSAGE_SID)

    assert (report.status, report.error_code) == (DELIVERED, None)
    spec.assert_matches(SPEC, "FetchMessage", fake_twilio.calls[0].request)


def test_fetch_status_of_a_failed_message_carries_twilios_error(fake_twilio):
    fake_twilio.get(MESSAGE_URL, json=message_resource("undelivered", 30003, "Unreachable destination handset"))

    report = provider().fetch_status(MESSAGE_SID)

    assert (report.status, report.error_code, report.error_message) == (
        FAILED,
        "30003",
        "Unreachable destination handset",
    )


@pytest.mark.parametrize("twilio_status", ["accepted", "queued", "sending", "scheduled"])
def test_fetch_status_of_a_message_in_flight_reports_nothing_yet(fake_twilio, twilio_status):
    fake_twilio.get(MESSAGE_URL, json=message_resource(twilio_status))

    assert provider().fetch_status(MESSAGE_SID).status is None


def test_fetch_status_errors_are_classified(fake_twilio):
    fake_twilio.get(MESSAGE_URL, status=503, body="")

    with pytest.raises(ProviderError) as raised:
        provider().fetch_status(MESSAGE_SID)

    assert raised.value.transient


ACCOUNT_URL = f"{BASE}/2010-04-01/Accounts/{ACCOUNT_SID}.json"


def test_verify_credentials_fetches_the_account(fake_twilio):
    fake_twilio.get(ACCOUNT_URL, json={"sid": ACCOUNT_SID, "status": "active"})

    provider().verify_credentials()

    spec.assert_matches(SPEC, "FetchAccount", fake_twilio.calls[0].request)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"code": 20003, "message": "Authenticate", "status": 401}),
        (401, None),
    ],
)
def test_verify_credentials_reports_bad_credentials_as_20003(fake_twilio, status, body):
    fake_twilio.get(ACCOUNT_URL, json=body, status=status)

    with pytest.raises(ProviderError) as raised:
        provider().verify_credentials()

    assert raised.value.bad_credentials and raised.value.code == "20003" and not raised.value.transient


def test_verify_credentials_treats_an_unknown_account_as_bad_settings(fake_twilio):
    fake_twilio.get(ACCOUNT_URL, json={"code": 20404, "message": "Not found", "status": 404}, status=404)

    with pytest.raises(ProviderError) as raised:
        provider().verify_credentials()

    assert raised.value.bad_credentials and raised.value.code == "20404"


def test_verify_credentials_when_twilio_is_down_is_transient_not_bad_credentials(fake_twilio):
    fake_twilio.get(ACCOUNT_URL, body=requests.ReadTimeout("down"))

    with pytest.raises(ProviderError) as raised:
        provider().verify_credentials()

    assert raised.value.transient and not raised.value.bad_credentials
