"""Inbound media copied into our storage, so a customer's photo outlives Twilio's retention."""

import pytest
import responses
from flask import current_app

from app import jobs
from app.extensions import db
from app.models import Message
from app.services import media_copies
from tests import factories
from tests.calls.conftest import on_fake_twilio
from tests.webhooks import payloads

PHOTO = f"https://api.twilio.com/2010-04-01/Accounts/{payloads.ACCOUNT_SID}/Messages/MM1/Media/ME1"
JPEG = b"\xff\xd8\xff\xe0" + bytes(1000)


@pytest.fixture
def mms(tenant, john):
    conversation = factories.make_conversation(tenant=tenant, channel="sms", contact=john)
    message = factories.make_message(conversation=conversation, body="look")
    message.attachments = [{"url": PHOTO, "content_type": "image/jpeg"}]
    db.session.commit()
    return message


def sweep_and_copy(queue) -> list:
    media_copies.sweep_inbound_media()
    jobs_run = queue.named(jobs.COPY_INBOUND_MEDIA)
    queue.clear()
    return [current_app.extensions["celery"].tasks[name](*args) for name, args, _ in jobs_run]


def test_a_photo_is_copied_and_still_served_after_twilio_deleted_it(api, mms, queue, fake_twilio):
    fake_twilio.get(on_fake_twilio(PHOTO), body=JPEG, headers={"Content-Type": "image/jpeg"})

    assert sweep_and_copy(queue) == ["copied"]

    db.session.refresh(mms)
    assert mms.media_copied_at is not None
    assert mms.attachments[0]["stored_key"] == f"inbound/{mms.tenant_id}/{mms.id}/0"
    assert mms.attachments[0]["url"] == PHOTO  # the provider's URL stays, for the record
    fake_twilio.replace(responses.GET, on_fake_twilio(PHOTO), status=404)
    response = api.get(f"/api/v1/messages/{mms.id}/media/0")
    assert (response.status_code, response.data, response.mimetype) == (200, JPEG, "image/jpeg")


def test_a_copied_message_is_not_taken_again(mms, queue, fake_twilio):
    fake_twilio.get(on_fake_twilio(PHOTO), body=JPEG, headers={"Content-Type": "image/jpeg"})
    sweep_and_copy(queue)

    assert sweep_and_copy(queue) == []


def test_a_provider_hiccup_leaves_the_copy_for_a_later_sweep(mms, queue, fake_twilio):
    fake_twilio.get(on_fake_twilio(PHOTO), status=503)

    assert sweep_and_copy(queue) == ["retry-later"]

    db.session.refresh(mms)
    assert mms.media_copied_at is None and mms.media_copy_claimed_at is not None
    assert sweep_and_copy(queue) == []  # taken moments ago: the next sweep waits COPY_RETRY_AFTER


def test_a_file_twilio_no_longer_has_is_marked_and_not_retried(mms, queue, fake_twilio):
    fake_twilio.get(on_fake_twilio(PHOTO), status=404)

    assert sweep_and_copy(queue) == ["copied"]

    db.session.refresh(mms)
    assert mms.attachments[0]["copy_failed"] == "not_found" and mms.media_copied_at is not None


def test_messages_without_media_are_never_taken(tenant, john, queue):
    conversation = factories.make_conversation(tenant=tenant, channel="sms", contact=john)
    factories.make_message(conversation=conversation, body="just text")

    assert sweep_and_copy(queue) == []


def test_a_provider_with_public_media_has_nothing_to_copy(mms, queue, use_provider):
    class PublicMedia:  # GHL: its attachment URLs are public; we do not fetch arbitrary URLs
        name = "ghl"
        rate_budget = None

    use_provider(PublicMedia())

    assert sweep_and_copy(queue) == ["copied"]
    assert "stored_key" not in db.session.get(Message, mms.id).attachments[0]
