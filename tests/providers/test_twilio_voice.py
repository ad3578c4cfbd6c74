"""The Twilio adapter's calls and media, against a local fake of the REST API (no network)."""

import base64
from urllib.parse import parse_qs

import pytest
import responses

from app.providers.base import ByteRange, CallRequest, FetchesMedia, PlacesCalls, ProviderError
from tests.providers import spec
from tests.providers.test_twilio import ACCOUNT_SID, AUTH_TOKEN, BASE, SPEC, provider

CALLS_URL = f"{BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
CALL_SID = "CA" + "d4" * 16
RECORDING = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'e5' * 16}"


@pytest.fixture
def fake_twilio():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def test_twilio_has_both_capabilities():
    assert isinstance(provider(), PlacesCalls) and isinstance(provider(), FetchesMedia)


def test_a_call_rings_the_staff_phone_from_the_business_number_with_our_urls(fake_twilio):
    fake_twilio.post(CALLS_URL, json={"sid": CALL_SID, "status": "queued", "account_sid": ACCOUNT_SID}, status=201)

    ids = provider().place_call(CallRequest(staff_phone="+14155550177", customer_phone="+14155552345", reference="42"))

    assert ids.message == CALL_SID
    request = fake_twilio.calls[0].request
    form = parse_qs(request.body)
    base = "https://api.example.com/webhooks/twilio/status/voice/outbound/42"
    assert form["To"] == ["+14155550177"] and form["From"] == ["+15005550006"]
    assert form["Url"] == [base] and form["StatusCallback"] == [f"{base}/status"]
    assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert "+14155552345" not in request.body  # the customer is dialed by our TwiML, once the staff member answers
    spec.assert_matches(SPEC, "CreateCall", request)


def test_a_messaging_service_alone_cannot_place_calls():
    with pytest.raises(ProviderError) as raised:
        provider(phone_number=None).place_call(CallRequest("+14155550177", "+14155552345", "1"))
    assert raised.value.code == "no_caller_id"


def test_media_is_fetched_with_the_accounts_credentials_and_the_range(fake_twilio):
    fake_twilio.get(
        f"{BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'e5' * 16}.mp3",
        body=b"ID3",
        status=206,
        headers={"Content-Range": "bytes 0-2/9000", "Content-Type": "audio/mpeg"},
    )

    stream = provider().fetch_media(RECORDING, ByteRange(0, 2))

    assert b"".join(stream.chunks) == b"ID3"
    assert (stream.content_type, stream.served, stream.total_length) == ("audio/mpeg", ByteRange(0, 2), 9000)
    request = fake_twilio.calls[0].request
    assert request.headers["Range"] == "bytes=0-2"
    expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/2010-04-01/Accounts/" + ACCOUNT_SID + "/Media/ME1",
        "https://api.twilio.com/2010-04-01/Accounts/AC" + "00" * 16 + "/Media/ME1",
        "https://api.twilio.com/2010-04-01/Accounts/" + ACCOUNT_SID + "/../AC00/Media",
        "",
    ],
)
def test_credentials_never_go_to_another_host_or_account(fake_twilio, url):
    with pytest.raises(ProviderError) as raised:
        provider().fetch_media(url)
    assert raised.value.code == "not_provider_media"


def test_a_file_twilio_no_longer_has_is_not_found(fake_twilio):
    fake_twilio.get(f"{BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1", status=404)

    with pytest.raises(ProviderError) as raised:
        provider().fetch_media(f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1")
    assert raised.value.code == "not_found"
