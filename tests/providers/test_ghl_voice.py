"""GHL's voicemail transcripts, against a local fake of its API, checked against the spec."""

import pytest
import responses

from app.providers.base import PlacesCalls, TranscribesCalls
from tests.providers import spec
from tests.providers.test_ghl import API_KEY, BASE, CONVERSATIONS, LOCATION_ID, MESSAGE_ID, provider

URL = f"{BASE}/conversations/locations/{LOCATION_ID}/messages/{MESSAGE_ID}/transcription"


def sentence(index, text, start):
    return {"mediaChannel": 1, "sentenceIndex": index, "startTime": start, "endTime": start + 900, "transcript": text}


@pytest.fixture
def fake_ghl():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def test_ghl_transcribes_but_cannot_place_calls():
    assert isinstance(provider(), TranscribesCalls) and not isinstance(provider(), PlacesCalls)


def test_the_sentences_come_back_in_order_as_one_text(fake_ghl):
    fake_ghl.get(URL, json=[sentence(2, "about the order.", 2000), sentence(1, " Hi,  it's Ann,  call me", 0)])

    assert provider().fetch_transcript(MESSAGE_ID) == "Hi, it's Ann, call me about the order."
    request = fake_ghl.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    spec.assert_matches(CONVERSATIONS, "get-message-transcription", request)


@pytest.mark.parametrize(
    "answer", [{"transcription": [sentence(1, "Hello", 0)]}, sentence(1, "Hello", 0), [sentence(1, "Hello", 0)]]
)
def test_each_shape_of_answer_is_read(fake_ghl, answer):
    fake_ghl.get(URL, json=answer)

    assert provider().fetch_transcript(MESSAGE_ID) == "Hello"


@pytest.mark.parametrize(("status", "answer"), [(404, {"message": "Not found"}), (200, []), (200, {})])
def test_no_transcript_yet_is_none(fake_ghl, status, answer):
    fake_ghl.get(URL, json=answer, status=status)

    assert provider().fetch_transcript(MESSAGE_ID) is None
