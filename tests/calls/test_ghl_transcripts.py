"""Voicemail transcripts from a provider that is asked for them (GHL): swept, fetched, retried later."""

from datetime import timedelta

import pytest
from flask import current_app

from app import jobs
from app.extensions import db
from app.models.base import utcnow
from app.services import transcripts
from tests import factories

WORDS = "Hi, it's Ann. Please call me back."


class AsksForWords:
    name = "ghl"
    rate_budget = None

    def __init__(self):
        self.words = None
        self.asked = []

    def fetch_transcript(self, provider_message_id):
        self.asked.append(provider_message_id)
        return self.words


@pytest.fixture
def ghl(use_provider):
    fake = AsksForWords()
    use_provider(fake)
    return fake


@pytest.fixture
def voicemail(tenant, john):
    conversation = factories.make_conversation(tenant=tenant, channel="voice", contact=john)
    return factories.make_message(
        conversation=conversation,
        body="Voicemail, 30 s",
        recording_url="https://storage.example/recording.wav",
        provider_message_id="ghlMsg123",
    )


def sweep_and_fetch(queue) -> list:
    transcripts.sweep_transcripts()
    due = queue.named(jobs.FETCH_TRANSCRIPT)
    queue.clear()
    return [current_app.extensions["celery"].tasks[name](*args) for name, args, _ in due]


def test_the_words_become_the_body(voicemail, ghl, queue):
    ghl.words = WORDS

    assert sweep_and_fetch(queue) == ["transcribed"]

    db.session.refresh(voicemail)
    assert (voicemail.body, voicemail.transcript) == (f"Voicemail, 30 s: {WORDS}", WORDS)
    assert ghl.asked == ["ghlMsg123"]
    assert sweep_and_fetch(queue) == []  # transcribed: never asked again


def test_no_words_yet_asks_again_later_not_at_once(voicemail, ghl, queue):
    assert sweep_and_fetch(queue) == ["later"]
    assert sweep_and_fetch(queue) == []

    db.session.refresh(voicemail)
    assert voicemail.transcript_next_check_at > utcnow()
    voicemail.transcript_next_check_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    ghl.words = WORDS
    assert sweep_and_fetch(queue) == ["transcribed"]


def test_a_voicemail_older_than_a_day_is_left_alone(voicemail, ghl, queue):
    voicemail.inserted_at = utcnow() - timedelta(days=2)
    db.session.commit()

    assert sweep_and_fetch(queue) == []


def test_a_provider_that_sends_words_by_callback_is_never_asked(voicemail, queue, use_provider):
    class CallbacksOnly:
        name = "twilio"
        rate_budget = None

    use_provider(CallbacksOnly())

    assert sweep_and_fetch(queue) == ["skipped"]
    assert sweep_and_fetch(queue) == []
