"""The GHL adapter, against a local fake of the LeadConnector API (the `responses` library; no network)."""

import json

import pytest
import requests
import responses

from app.providers import ghl
from app.providers.base import DELIVERED, FAILED, READ, SENT, OutboundMessage, ProviderError, ProviderIds, Recipient
from app.providers.ghl import GhlProvider
from app.providers.ghl_payloads import IN_FLIGHT_STATUSES, ghl_status_to_ours
from tests.providers import spec
from tests.providers.network import refused

CONVERSATIONS = "ghl/conversations.json"
CONTACTS = "ghl/contacts.json"
BASE = "http://ghl.fake"
API_KEY = "pit-0f1e2d3c"
LOCATION_ID = "ve9EPM428h8vShlRW1KT"
CONTACT_ID = "abc123def456"
CONVERSATION_ID = "ABC12h2F6uBrIkfXYazb"
MESSAGE_ID = "t22c6DQcTDf3MjRhwf77"

# SendMessageBodyDto in the spec lists `subType` (typed as an object) and `status` (delivered,
# failed, pending, read) as required. Neither makes sense for sending an SMS or WhatsApp message,
# providers.md's send call has neither, and sending a `status` could mark the message as already
# delivered. We leave them out knowingly; everything else is validated.
SEND_OMITS = ("subType", "status")


@pytest.fixture
def fake_ghl():
    # Unmatched requests raise ConnectionError: nothing can leak to the real API.
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def provider(**overrides) -> GhlProvider:
    settings = {"api_key": API_KEY, "location_id": LOCATION_ID, "api_base_url": BASE, "timeout": 4.0}
    return GhlProvider(**(settings | overrides))


def outbound(channel="sms", media=(), contact_id=None, **recipient) -> OutboundMessage:
    person = {"phone": "+14155552345", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    return OutboundMessage(
        channel=channel,
        recipient=Recipient(**(person | recipient), provider_contact_id=contact_id),
        body="Your table is ready",
        media_urls=tuple(media),
    )


def sent_json(call) -> dict:
    return json.loads(call.request.body)


def accept_send(fake_ghl, **extra):
    answer = {"conversationId": CONVERSATION_ID, "messageId": MESSAGE_ID, "status": "pending"} | extra
    fake_ghl.post(f"{BASE}/conversations/messages", json=answer)


def accept_upsert(fake_ghl):
    fake_ghl.post(
        f"{BASE}/contacts/upsert", json={"new": True, "contact": {"id": CONTACT_ID, "locationId": LOCATION_ID}}
    )


def test_send_to_a_new_contact_upserts_it_then_sends(fake_ghl):
    accept_upsert(fake_ghl)
    accept_send(fake_ghl)

    receipt = provider().send(outbound())

    assert (receipt.provider_message_id, receipt.status) == (MESSAGE_ID, SENT)
    assert receipt.ids == ProviderIds(message=MESSAGE_ID, contact=CONTACT_ID, conversation=CONVERSATION_ID)
    upsert, send = fake_ghl.calls
    assert upsert.request.url == f"{BASE}/contacts/upsert"
    assert sent_json(upsert) == {
        "locationId": LOCATION_ID,
        "phone": "+14155552345",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
    }
    spec.assert_matches(CONTACTS, "upsert-contact", upsert.request)
    assert send.request.url == f"{BASE}/conversations/messages"
    assert sent_json(send) == {"type": "SMS", "contactId": CONTACT_ID, "message": "Your table is ready"}
    spec.assert_matches(CONVERSATIONS, "send-a-new-message", send.request, ignore_required=SEND_OMITS)


def test_each_endpoint_family_gets_its_own_version_header_and_the_bearer_token(fake_ghl):
    accept_upsert(fake_ghl)
    accept_send(fake_ghl)

    provider().send(outbound())

    upsert, send = (call.request.headers for call in fake_ghl.calls)
    assert upsert["Version"] == "2021-07-28"
    assert send["Version"] == "2021-04-15"
    for headers in (upsert, send):
        assert headers["Authorization"] == f"Bearer {API_KEY}"
        assert headers["Accept"] == "application/json"
        assert headers["Content-Type"] == "application/json"


def test_the_upsert_leaves_out_what_we_do_not_know(fake_ghl):
    accept_upsert(fake_ghl)
    accept_send(fake_ghl)

    provider().send(outbound(first_name=None, last_name=None, email=None))

    assert sent_json(fake_ghl.calls[0]) == {"locationId": LOCATION_ID, "phone": "+14155552345"}
    spec.assert_matches(CONTACTS, "upsert-contact", fake_ghl.calls[0].request)


def test_a_known_contact_is_not_upserted_again(fake_ghl):
    accept_send(fake_ghl)

    receipt = provider().send(outbound(contact_id="known-contact"))

    (call,) = fake_ghl.calls
    assert sent_json(call)["contactId"] == "known-contact"
    assert receipt.ids.contact == "known-contact"


def test_whatsapp_is_sent_as_type_whatsapp(fake_ghl):
    accept_send(fake_ghl)

    provider().send(outbound(channel="whatsapp", contact_id=CONTACT_ID))

    assert sent_json(fake_ghl.calls[0])["type"] == "WhatsApp"
    spec.assert_matches(CONVERSATIONS, "send-a-new-message", fake_ghl.calls[0].request, ignore_required=SEND_OMITS)


def test_media_urls_become_attachments(fake_ghl):
    accept_send(fake_ghl)
    media = ["https://cdn.example.com/a.jpg", "https://cdn.example.com/b.png"]

    provider().send(outbound(media=media, contact_id=CONTACT_ID))

    assert sent_json(fake_ghl.calls[0])["attachments"] == media
    spec.assert_matches(CONVERSATIONS, "send-a-new-message", fake_ghl.calls[0].request, ignore_required=SEND_OMITS)


def test_an_unknown_channel_is_refused_without_a_call(fake_ghl):
    with pytest.raises(ProviderError) as raised:
        provider().send(outbound(channel="fax", contact_id=CONTACT_ID))

    assert raised.value.code == "unsupported_channel" and not raised.value.transient
    assert len(fake_ghl.calls) == 0


def test_versions_base_url_and_timeout_are_settings(fake_ghl):
    fake_ghl.post("http://staging.ghl.fake/conversations/messages", json={"conversationId": "c", "messageId": "m"})

    provider(api_base_url="http://staging.ghl.fake/", conversations_version="2026-01-01", timeout=2.5).send(
        outbound(contact_id=CONTACT_ID)
    )

    request = fake_ghl.calls[0].request
    assert request.headers["Version"] == "2026-01-01"
    assert request.req_kwargs["timeout"] == 2.5


def test_one_session_is_reused_per_worker_process(monkeypatch):
    first = ghl.shared_session()
    assert ghl.shared_session() is first
    assert provider().session is first
    monkeypatch.setattr(ghl.os, "getpid", lambda: -1)  # as in a freshly forked worker
    assert ghl.shared_session() is not first


def test_an_answer_without_message_id_is_an_error(fake_ghl):
    fake_ghl.post(f"{BASE}/conversations/messages", json={"conversationId": CONVERSATION_ID})

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound(contact_id=CONTACT_ID))

    assert raised.value.code == "bad_response"


def test_an_upsert_without_contact_id_is_an_error(fake_ghl):
    fake_ghl.post(f"{BASE}/contacts/upsert", json={"new": False})

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound())

    assert raised.value.code == "bad_response"


# Error classification: (status, JSON body, headers, transient, opted_out, bad_credentials, retry_after)
UNAUTHORIZED = {"statusCode": 401, "message": "Invalid token: access token is invalid", "error": "Unauthorized"}
ERRORS = [
    (401, UNAUTHORIZED, {}, False, False, True, None),
    (403, {"statusCode": 403, "message": "The token is not authorized for this scope."}, {}, False, False, True, None),
    (429, {"message": "Too many requests"}, {"Retry-After": "7"}, True, False, False, 7.0),
    (429, {"message": "Too many requests"}, {"X-RateLimit-Interval-Milliseconds": "10000"}, True, False, False, 10.0),
    (429, None, {}, True, False, False, None),
    (500, {"message": "Internal server error"}, {}, True, False, False, None),
    (502, None, {}, True, False, False, None),
    (503, None, {}, True, False, False, None),
    (400, {"statusCode": 400, "message": "Bad Request"}, {}, False, False, False, None),
    (404, {"statusCode": 404, "message": "Contact not found"}, {}, False, False, False, None),
    (422, {"statusCode": 422, "message": ["contactId must be a string"]}, {}, False, False, False, None),
    (400, {"statusCode": 400, "message": "Cannot send: DND is active for SMS."}, {}, False, True, False, None),
    (422, {"statusCode": 422, "message": ["The contact has unsubscribed from SMS"]}, {}, False, True, False, None),
]


@pytest.mark.parametrize(("status", "body", "headers", "transient", "opted_out", "bad_credentials", "retry"), ERRORS)
def test_ghl_errors_are_classified(fake_ghl, status, body, headers, transient, opted_out, bad_credentials, retry):
    answer = {"json": body} if body is not None else {"body": "upstream trouble"}
    fake_ghl.post(f"{BASE}/conversations/messages", status=status, headers=headers, **answer)

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound(contact_id=CONTACT_ID))

    error = raised.value
    assert error.code == f"http_{status}"
    assert error.rate_limited == (status == 429)
    assert (error.transient, error.opted_out, error.bad_credentials, error.retry_after) == (
        transient,
        opted_out,
        bad_credentials,
        retry,
    )
    if body is not None:
        message = body["message"]
        assert error.message == ("; ".join(message) if isinstance(message, list) else message)


def test_a_send_that_never_reached_ghl_is_transient(fake_ghl):
    fake_ghl.post(f"{BASE}/conversations/messages", body=refused())

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound(contact_id=CONTACT_ID))

    assert raised.value.transient and raised.value.code == "network" and not raised.value.outcome_unknown


def test_a_send_left_without_an_answer_has_an_unknown_outcome(fake_ghl):
    fake_ghl.post(f"{BASE}/conversations/messages", body=requests.ReadTimeout("slow"))

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound(contact_id=CONTACT_ID))

    assert raised.value.outcome_unknown and not raised.value.transient


def test_a_failed_upsert_is_classified_and_nothing_is_sent(fake_ghl):
    fake_ghl.post(f"{BASE}/contacts/upsert", status=401, json=UNAUTHORIZED)

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound())

    assert raised.value.bad_credentials
    assert len(fake_ghl.calls) == 1


def test_a_failed_send_still_reports_the_contact_it_upserted(fake_ghl):
    accept_upsert(fake_ghl)
    fake_ghl.post(f"{BASE}/conversations/messages", status=503)

    with pytest.raises(ProviderError) as raised:
        provider().send(outbound())

    assert raised.value.transient and raised.value.provider_contact_id == CONTACT_ID


# Status mapping: every status of the spec's GetMessageResponseDto is either final or in flight.
FINAL = {
    "sent": SENT,
    "delivered": DELIVERED,
    "connected": DELIVERED,
    "opened": DELIVERED,
    "clicked": DELIVERED,
    "read": READ,
    "undelivered": FAILED,
    "failed": FAILED,
    "opt_out": FAILED,
}


def test_every_ghl_status_in_the_spec_is_mapped():
    schema = spec.load(CONVERSATIONS)["components"]["schemas"]["GetMessageResponseDto"]
    assert set(schema["properties"]["status"]["enum"]) == set(FINAL) | IN_FLIGHT_STATUSES


@pytest.mark.parametrize(("ghl_status", "ours"), sorted(FINAL.items()))
def test_final_ghl_statuses_map_to_ours(ghl_status, ours):
    assert ghl_status_to_ours(ghl_status) == ours


@pytest.mark.parametrize("ghl_status", sorted(IN_FLIGHT_STATUSES) + ["", None, "something-new"])
def test_in_flight_and_unknown_ghl_statuses_say_nothing_yet(ghl_status):
    assert ghl_status_to_ours(ghl_status) is None


MESSAGE_URL = f"{BASE}/conversations/messages/{MESSAGE_ID}"


def ghl_message(status: str, **extra) -> dict:
    return {"id": MESSAGE_ID, "type": 2, "messageType": "TYPE_SMS", "status": status, "direction": "outbound"} | extra


def test_fetch_status_gets_the_message_and_maps_it(fake_ghl):
    fake_ghl.get(MESSAGE_URL, json=ghl_message("delivered"))

    assert provider().fetch_status(MESSAGE_ID).status == DELIVERED
    request = fake_ghl.calls[0].request
    assert request.headers["Version"] == "2021-04-15"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    spec.assert_matches(CONVERSATIONS, "get-message", request)


def test_fetch_status_accepts_a_wrapped_answer(fake_ghl):
    fake_ghl.get(MESSAGE_URL, json={"message": ghl_message("read")})

    assert provider().fetch_status(MESSAGE_ID).status == READ


def test_fetch_status_of_a_message_in_flight_reports_nothing_yet(fake_ghl):
    fake_ghl.get(MESSAGE_URL, json=ghl_message("pending"))

    assert provider().fetch_status(MESSAGE_ID).status is None


@pytest.mark.parametrize(
    ("extra", "code", "text"),
    [
        ({"error": {"code": "30003", "message": "Unreachable handset"}}, "30003", "Unreachable handset"),
        ({"meta": {"error": "Carrier rejected the message"}}, "undelivered", "Carrier rejected the message"),
        ({}, "undelivered", None),
    ],
)
def test_fetch_status_of_a_failed_message_carries_the_reason(fake_ghl, extra, code, text):
    fake_ghl.get(MESSAGE_URL, json=ghl_message("undelivered", **extra))

    report = provider().fetch_status(MESSAGE_ID)

    assert (report.status, report.error_code, report.error_message) == (FAILED, code, text)


def test_fetch_status_errors_are_classified(fake_ghl):
    fake_ghl.get(MESSAGE_URL, status=404, json={"statusCode": 404, "message": "Message not found"})

    with pytest.raises(ProviderError) as raised:
        provider().fetch_status(MESSAGE_ID)

    assert not raised.value.transient and raised.value.message == "Message not found"


CONTACTS_URL = f"{BASE}/contacts/"


def test_verify_credentials_reads_one_contact_of_the_location(fake_ghl):
    fake_ghl.get(CONTACTS_URL, json={"contacts": [], "count": 0})

    provider().verify_credentials()

    request = fake_ghl.calls[0].request
    assert request.url == f"{CONTACTS_URL}?locationId={LOCATION_ID}&limit=1"
    assert request.headers["Version"] == "2021-07-28"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    spec.assert_matches(CONTACTS, "get-contacts", request)


@pytest.mark.parametrize("status", [401, 403, 400, 422])
def test_verify_credentials_refused_means_bad_credentials(fake_ghl, status):
    fake_ghl.get(CONTACTS_URL, status=status, json={"statusCode": status, "message": "Refused"})

    with pytest.raises(ProviderError) as raised:
        provider().verify_credentials()

    assert raised.value.bad_credentials and not raised.value.transient


def test_verify_credentials_when_ghl_is_down_is_transient_not_bad_credentials(fake_ghl):
    fake_ghl.get(CONTACTS_URL, body=requests.Timeout("slow"))

    with pytest.raises(ProviderError) as raised:
        provider().verify_credentials()

    assert raised.value.transient and not raised.value.bad_credentials
