"""Inbound SMS, MMS and WhatsApp from Twilio, through the one inbound path."""

from datetime import timedelta
from xml.etree import ElementTree

import pytest

from app.models import Contact, Conversation, Message, WebhookEvent
from app.models.base import aware, utcnow
from tests import factories
from tests.webhooks import payloads
from tests.webhooks.conftest import all_rows, count, one


def test_an_inbound_sms_is_answered_with_empty_twiml(twilio):
    response = twilio.post(payloads.twilio_sms())

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    root = ElementTree.fromstring(response.data)
    assert root.tag == "Response"
    assert list(root) == []


def test_an_inbound_sms_from_a_new_number_starts_a_contact_and_a_conversation(twilio, twilio_tenant):
    params = payloads.twilio_sms(body="Is my order ready?")

    twilio.deliver(params)

    contact = one(Contact)
    conversation = one(Conversation)
    message = one(Message)
    assert (contact.tenant_id, contact.phone) == (twilio_tenant.id, payloads.CUSTOMER)
    assert (conversation.contact_id, conversation.channel, conversation.status) == (contact.id, "sms", "open")
    assert conversation.phone_number == payloads.CUSTOMER
    assert (message.direction, message.sender_type, message.channel, message.body) == (
        "inbound",
        "visitor",
        "sms",
        "Is my order ready?",
    )
    assert message.provider_message_id == params["MessageSid"]
    assert message.read_at is None  # unread
    assert conversation.last_message_id == message.id
    assert one(WebhookEvent).state == "processed"


def test_an_inbound_sms_joins_the_contacts_open_conversation_and_moves_its_activity(twilio, twilio_tenant):
    contact = factories.make_contact(tenant=twilio_tenant, phone=payloads.CUSTOMER)
    an_hour_ago = utcnow() - timedelta(hours=1)
    conversation = factories.make_conversation(tenant=twilio_tenant, contact=contact, last_message_at=an_hour_ago)

    twilio.deliver(payloads.twilio_sms())

    message = one(Message)
    conversation = one(Conversation)
    assert message.conversation_id == conversation.id
    assert aware(conversation.last_message_at) > an_hour_ago
    assert conversation.last_message_at == message.inserted_at
    assert count(Contact) == 1


def test_the_sender_is_matched_by_e164_however_twilio_formats_it(twilio, twilio_tenant):
    factories.make_contact(tenant=twilio_tenant, phone=payloads.CUSTOMER)

    twilio.deliver(payloads.twilio_sms(sender="+1 (415) 555-2345"))

    assert count(Contact) == 1
    assert one(Conversation).contact_id == one(Contact).id


def test_an_inbound_sms_reopens_the_contacts_closed_conversation(twilio, twilio_tenant):
    contact = factories.make_contact(tenant=twilio_tenant, phone=payloads.CUSTOMER)
    closed = factories.make_conversation(tenant=twilio_tenant, contact=contact, status="closed")

    twilio.deliver(payloads.twilio_sms())

    assert count(Conversation) == 1
    assert one(Conversation).status == "open"
    assert one(Message).conversation_id == closed.id


def test_an_archived_conversation_stays_archived_and_a_new_one_starts(twilio, twilio_tenant):
    contact = factories.make_contact(tenant=twilio_tenant, phone=payloads.CUSTOMER)
    archived = factories.make_conversation(tenant=twilio_tenant, contact=contact, status="archived")

    twilio.deliver(payloads.twilio_sms())

    assert one(Conversation, Conversation.id == archived.id).status == "archived"
    assert one(Message).conversation_id != archived.id


def test_an_open_conversation_wins_over_a_closed_one(twilio, twilio_tenant):
    contact = factories.make_contact(tenant=twilio_tenant, phone=payloads.CUSTOMER)
    factories.make_conversation(tenant=twilio_tenant, contact=contact, status="closed")
    open_one = factories.make_conversation(tenant=twilio_tenant, contact=contact)

    twilio.deliver(payloads.twilio_sms())

    assert one(Message).conversation_id == open_one.id
    assert [c.status for c in all_rows(Conversation)] == ["closed", "open"]


def test_a_contact_of_another_tenant_with_the_same_number_is_not_used(twilio, twilio_tenant):
    other = factories.make_tenant(name="Globex")
    theirs = factories.make_contact(tenant=other, phone=payloads.CUSTOMER)

    twilio.deliver(payloads.twilio_sms())

    mine = one(Contact, Contact.tenant_id == twilio_tenant.id)
    assert mine.id != theirs.id
    assert one(Conversation).tenant_id == twilio_tenant.id


class TestMms:
    def test_every_media_item_is_kept_with_its_content_type(self, twilio):
        sid = payloads.sid("MM")
        media = [
            (payloads.twilio_media_url(sid), "image/jpeg"),
            (payloads.twilio_media_url(sid), "image/png"),
            (payloads.twilio_media_url(sid), "video/mp4"),
        ]

        twilio.deliver(payloads.twilio_mms(media, body="Photos of the damage"))

        message = one(Message)
        assert message.body == "Photos of the damage"
        assert message.attachments == [{"url": url, "content_type": kind} for url, kind in media]

    def test_ten_media_items_all_arrive(self, twilio):
        media = [(payloads.twilio_media_url(payloads.sid("MM")), "image/gif") for _ in range(10)]

        twilio.deliver(payloads.twilio_mms(media))

        assert [item["url"] for item in one(Message).attachments] == [url for url, _ in media]

    def test_an_mms_without_text_is_stored_with_an_empty_body(self, twilio):
        twilio.deliver(payloads.twilio_mms([(payloads.twilio_media_url(payloads.sid("MM")), "image/jpeg")]))

        message = one(Message)
        assert message.body == ""
        assert len(message.attachments) == 1


class TestWhatsApp:
    def test_a_whatsapp_sender_lands_in_a_whatsapp_conversation(self, twilio):
        twilio.deliver(payloads.twilio_whatsapp(body="Hola"))

        conversation = one(Conversation)
        message = one(Message)
        assert (conversation.channel, message.channel, message.body) == ("whatsapp", "whatsapp", "Hola")
        assert one(Contact).phone == payloads.CUSTOMER  # the prefix is not part of the number

    def test_whatsapp_and_sms_from_one_person_are_one_contact_and_two_conversations(self, twilio):
        twilio.deliver(payloads.twilio_sms())
        twilio.deliver(payloads.twilio_whatsapp())

        assert count(Contact) == 1
        assert sorted(c.channel for c in all_rows(Conversation)) == ["sms", "whatsapp"]


class TestOptOut:
    @pytest.mark.parametrize("body", ["STOP", "stop", "Stop.", " unsubscribe ", "STOPALL", "cancel", "QUIT"])
    def test_a_stop_keyword_opts_the_contact_out(self, twilio, body):
        twilio.deliver(payloads.twilio_sms(body=body))

        assert one(Contact).sms_opted_out
        assert one(Message).body == body  # still stored, so staff see it

    @pytest.mark.parametrize("body", ["START", "unstop", "Yes"])
    def test_a_start_keyword_opts_an_opted_out_contact_back_in(self, twilio, twilio_tenant, body):
        factories.make_contact(tenant=twilio_tenant, phone=payloads.CUSTOMER, sms_opted_out_at=utcnow())

        twilio.deliver(payloads.twilio_sms(body=body))

        assert not one(Contact).sms_opted_out

    def test_a_sentence_containing_stop_is_not_an_opt_out(self, twilio):
        twilio.deliver(payloads.twilio_sms(body="Please don't stop the delivery"))

        assert not one(Contact).sms_opted_out

    def test_twilios_opt_out_type_stop_is_honoured_whatever_the_body(self, twilio):
        # Advanced Opt-Out: a custom keyword the account configured ("ARRET") arrives with OptOutType.
        twilio.deliver(payloads.twilio_sms(body="ARRET", OptOutType="STOP"))

        assert one(Contact).sms_opted_out

    def test_twilios_opt_out_type_start_opts_back_in(self, twilio, twilio_tenant):
        factories.make_contact(tenant=twilio_tenant, phone=payloads.CUSTOMER, sms_opted_out_at=utcnow())

        twilio.deliver(payloads.twilio_sms(body="REPRENDRE", OptOutType="START"))

        assert not one(Contact).sms_opted_out

    def test_opt_out_type_help_changes_nothing(self, twilio):
        twilio.deliver(payloads.twilio_sms(body="HELP", OptOutType="HELP"))

        assert not one(Contact).sms_opted_out

    def test_stop_on_whatsapp_is_honoured_too(self, twilio):
        twilio.deliver(payloads.twilio_whatsapp(body="STOP"))

        assert one(Contact).sms_opted_out


def test_an_inbound_message_whose_sender_is_not_a_phone_number_fails_its_event_and_stores_nothing(twilio):
    twilio.deliver(payloads.twilio_sms(sender="not-a-number"))

    event = one(WebhookEvent)
    assert event.state == "failed"
    assert "phone" in event.last_error
    assert count(Message) == count(Contact) == count(Conversation) == 0
