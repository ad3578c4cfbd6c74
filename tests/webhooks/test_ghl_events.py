"""GHL's events (and the seed's legacy names for them), through the one inbound path."""

import itertools
from datetime import timedelta

import pytest

from app.models import Contact, Conversation, Message, WebhookEvent
from app.models.base import aware, utcnow
from app.services.conversations import unread_counts
from tests import factories
from tests.webhooks import payloads
from tests.webhooks.conftest import all_rows, count, one


@pytest.fixture
def known_contact(ghl_tenant):
    return factories.make_contact(
        tenant=ghl_tenant, phone="+15551234567", first_name="John", ghl_contact_id=payloads.GHL_CONTACT_ID
    )


class TestInboundMessage:
    def test_a_message_from_a_new_ghl_contact_starts_a_contact_and_a_conversation(self, ghl, ghl_tenant):
        payload = payloads.ghl_inbound(body="Do you have a slot on Saturday?")

        assert ghl.deliver(payload).status_code == 200

        contact, conversation, message = one(Contact), one(Conversation), one(Message)
        assert (contact.tenant_id, contact.ghl_contact_id) == (ghl_tenant.id, payloads.GHL_CONTACT_ID)
        assert (conversation.contact_id, conversation.channel, conversation.status) == (contact.id, "sms", "open")
        assert conversation.ghl_conversation_id == payload["conversationId"]
        assert (message.direction, message.sender_type, message.body, message.ghl_message_id) == (
            "inbound",
            "visitor",
            "Do you have a slot on Saturday?",
            payload["messageId"],
        )
        assert message.read_at is None
        assert conversation.last_message_id == message.id
        assert one(WebhookEvent).state == "processed"

    def test_a_message_from_a_known_contact_joins_their_open_conversation(self, ghl, ghl_tenant, known_contact):
        an_hour_ago = utcnow() - timedelta(hours=1)
        conversation = factories.make_conversation(
            tenant=ghl_tenant, contact=known_contact, last_message_at=an_hour_ago
        )

        ghl.deliver(payloads.ghl_inbound())

        assert count(Contact) == count(Conversation) == 1
        assert one(Message).conversation_id == conversation.id
        assert aware(one(Conversation).last_message_at) > an_hour_ago
        assert unread_counts(ghl_tenant)["by_channel"]["sms"] == 1

    def test_a_message_reopens_the_contacts_closed_conversation(self, ghl, ghl_tenant, known_contact):
        closed = factories.make_conversation(tenant=ghl_tenant, contact=known_contact, status="closed")

        ghl.deliver(payloads.ghl_inbound())

        assert one(Conversation).status == "open"
        assert one(Message).conversation_id == closed.id

    def test_the_seeds_legacy_event_finds_the_contact_by_phone_and_learns_its_ghl_id(self, ghl, ghl_tenant):
        contact = factories.make_contact(tenant=ghl_tenant, phone="+15551234567")

        ghl.deliver(legacy("IncomingSMS", phone="(555) 123-4567"))

        assert one(Contact).id == contact.id
        assert one(Contact).ghl_contact_id == payloads.GHL_CONTACT_ID

    @pytest.mark.parametrize(
        ("message_type", "channel"),
        [("SMS", "sms"), ("WhatsApp", "whatsapp"), ("Live Chat", "web"), ("TYPE_SMS", "sms")],
    )
    def test_the_message_type_picks_the_channel(self, ghl, message_type, channel):
        ghl.deliver(payloads.ghl_inbound(message_type=message_type))

        assert (one(Conversation).channel, one(Message).channel) == (channel, channel)

    @pytest.mark.parametrize("message_type", ["Email", "GMB", "FB", "IG"])
    def test_channels_we_do_not_carry_are_acknowledged_and_ignored(self, ghl, message_type):
        assert ghl.deliver(payloads.ghl_inbound(message_type=message_type)).status_code == 200

        assert count(Message) == 0
        assert one(WebhookEvent).state == "processed"

    def test_attachments_are_kept(self, ghl):
        urls = ["https://msgsndr.example/a.jpg", "https://msgsndr.example/b.png"]

        ghl.deliver(payloads.ghl_inbound(attachments=urls))

        assert [item["url"] for item in one(Message).attachments] == urls

    def test_stop_opts_the_contact_out_and_start_opts_them_back_in(self, ghl, known_contact):
        ghl.deliver(payloads.ghl_inbound(body="STOP"))
        assert one(Contact).sms_opted_out

        ghl.deliver(payloads.ghl_inbound(body="start"))
        assert not one(Contact).sms_opted_out

    def test_the_specs_example_without_message_or_webhook_id_is_stored(self, ghl):
        # specs/ghl/webhook-events/InboundMessage.md, Example(Message), verbatim: no messageId, no webhookId.
        example = {
            "type": "InboundMessage",
            "locationId": payloads.LOCATION_ID,
            "attachments": [],
            "body": "This is a test message",
            "contactId": "cI08i1Bls3iTB9bKgFJh",
            "contentType": "text/plain",
            "conversationId": "fcanlLgpbQgQhderivVs",
            "dateAdded": "2021-04-21T11:31:45.750Z",
            "direction": "inbound",
            "messageType": "SMS",
            "status": "delivered",
            "conversationProviderId": "cI08i1Bls3iTB9bKgF01",
        }

        ghl.deliver(example)
        ghl.deliver({**example, "body": "A second, different message", "dateAdded": "2021-04-21T11:32:00.000Z"})
        ghl.deliver(example)  # a redelivery of the first

        assert [m.body for m in all_rows(Message)] == ["This is a test message", "A second, different message"]


class TestCalls:
    def test_an_answered_call_becomes_a_voice_message_with_duration_and_recording(self, ghl):
        ghl.deliver(payloads.ghl_call(status="completed", duration=120, recording="https://rec.example/call.mp3"))

        message = one(Message)
        assert (message.channel, message.direction) == ("voice", "inbound")
        assert message.call_duration_seconds == 120
        assert message.recording_url == "https://rec.example/call.mp3"
        assert one(Conversation).channel == "voice"

    def test_an_unanswered_call_to_voicemail_keeps_the_voicemail(self, ghl):
        # The spec's voicemail example: status "voicemail", no callStatus, no callDuration.
        payload = payloads.ghl_call(status="voicemail", duration=None, recording="https://rec.example/vm.mp3")
        del payload["callStatus"]

        ghl.deliver(payload)

        message = one(Message)
        assert (message.recording_url, message.body) == ("https://rec.example/vm.mp3", "Voicemail")

    def test_an_outbound_call_from_ghl_is_mirrored_as_a_staff_voice_message(self, ghl):
        payload = payloads.ghl_call(status="completed", duration=45, type="OutboundMessage", direction="outbound")

        ghl.deliver(payload)

        message = one(Message)
        assert (message.channel, message.direction, message.sender_type) == ("voice", "outbound", "staff")
        assert message.call_duration_seconds == 45


class TestOutboundMessage:
    @pytest.fixture
    def our_message(self, ghl_tenant, known_contact):
        """A message we sent through GHL: its GHL id is stored, the worker marked it sent."""
        conversation = factories.make_conversation(tenant=ghl_tenant, contact=known_contact)
        return factories.make_message(
            conversation=conversation,
            direction="outbound",
            body="Your table is ready",
            delivery_status="sent",
            ghl_message_id=payloads.ghl_id(),
        )

    def test_our_own_send_coming_back_changes_nothing_but_its_status(self, ghl, our_message):
        ghl.deliver(
            payloads.ghl_outbound(message_id=our_message.ghl_message_id, body="(GHL's copy)", status="delivered")
        )

        message = one(Message)
        assert (message.id, message.body, message.sender_type) == (our_message.id, "Your table is ready", "staff")
        assert message.delivery_status == "delivered"
        assert count(Conversation) == 1

    def test_a_failed_status_fails_our_message(self, ghl, our_message):
        ghl.deliver(payloads.ghl_outbound(message_id=our_message.ghl_message_id, status="failed"))

        message = one(Message)
        assert message.delivery_status == "failed"
        assert message.error_code

    def test_a_late_sent_after_delivered_does_not_move_back(self, ghl, our_message):
        ghl.deliver(payloads.ghl_outbound(message_id=our_message.ghl_message_id, status="delivered"))
        ghl.deliver(payloads.ghl_outbound(message_id=our_message.ghl_message_id, status="sent"))

        assert one(Message).delivery_status == "delivered"

    @pytest.mark.parametrize(
        "order", list(itertools.permutations(["sent", "delivered", "read", "failed"])), ids="-".join
    )
    def test_statuses_in_any_order_leave_the_most_advanced(self, ghl, our_message, order):
        for status in order:
            ghl.deliver(payloads.ghl_outbound(message_id=our_message.ghl_message_id, status=status))

        failed_first = order.index("failed") < min(order.index("delivered"), order.index("read"))
        assert one(Message).delivery_status == ("failed" if failed_first else "read")

    def test_a_message_typed_by_staff_in_ghl_is_mirrored_as_an_outbound_staff_message(
        self, ghl, ghl_tenant, known_contact
    ):
        conversation = factories.make_conversation(tenant=ghl_tenant, contact=known_contact)
        payload = payloads.ghl_outbound(body="Typed in GHL", status="delivered")

        ghl.deliver(payload)

        message = one(Message)
        assert (message.conversation_id, message.direction, message.sender_type, message.sender_id) == (
            conversation.id,
            "outbound",
            "staff",
            None,
        )
        assert (message.body, message.ghl_message_id, message.delivery_status) == (
            "Typed in GHL",
            payload["messageId"],
            "delivered",
        )
        assert one(Conversation).last_message_id == message.id
        assert unread_counts(ghl_tenant)["total"] == 0  # nobody needs to read what staff wrote

    def test_our_send_reported_before_our_worker_stored_its_ghl_id_is_not_duplicated(
        self, ghl, ghl_tenant, known_contact
    ):
        conversation = factories.make_conversation(tenant=ghl_tenant, contact=known_contact)
        ours = factories.make_message(
            conversation=conversation,
            direction="outbound",
            body="On my way",
            delivery_status="pending",
            claimed_at=utcnow(),  # a worker is calling GHL with it right now
            sender_id=factories.make_user(tenant=ghl_tenant).id,
        )
        payload = payloads.ghl_outbound(body="On my way", status="sent")

        ghl.deliver(payload)

        message = one(Message)
        assert (message.id, message.ghl_message_id, message.delivery_status) == (ours.id, payload["messageId"], "sent")

    def test_a_message_of_ours_that_already_failed_is_not_mistaken_for_one_typed_in_ghl(
        self, ghl, ghl_tenant, known_contact
    ):
        conversation = factories.make_conversation(tenant=ghl_tenant, contact=known_contact)
        failed = factories.make_message(
            conversation=conversation,
            direction="outbound",
            body="On my way",
            delivery_status="failed",
            sender_id=factories.make_user(tenant=ghl_tenant).id,
        )

        ghl.deliver(payloads.ghl_outbound(body="On my way", status="sent"))

        assert count(Message) == 2
        assert one(Message, Message.id == failed.id).ghl_message_id is None


class TestContactDndUpdate:
    def test_dnd_on_opts_the_contact_out(self, ghl, known_contact):
        ghl.deliver(payloads.ghl_dnd(dnd=True))

        assert one(Contact).sms_opted_out

    def test_sms_dnd_alone_opts_the_contact_out(self, ghl, known_contact):
        ghl.deliver(payloads.ghl_dnd(dnd=False, sms_status="active"))

        assert one(Contact).sms_opted_out

    def test_dnd_off_opts_the_contact_back_in(self, ghl, ghl_tenant):
        factories.make_contact(tenant=ghl_tenant, ghl_contact_id=payloads.GHL_CONTACT_ID, sms_opted_out_at=utcnow())

        ghl.deliver(payloads.ghl_dnd(dnd=False, sms_status="inactive"))

        assert not one(Contact).sms_opted_out

    def test_an_update_for_a_contact_we_do_not_have_changes_nothing(self, ghl, known_contact):
        ghl.deliver(payloads.ghl_dnd(dnd=True, contact_id="someone-we-never-met"))

        assert not one(Contact).sms_opted_out
        assert count(Contact) == 1
        assert one(WebhookEvent).state == "processed"

    def test_another_tenants_contact_with_the_same_ghl_id_is_untouched(self, ghl, known_contact):
        other = factories.make_tenant(name="Globex")
        theirs = factories.make_contact(tenant=other, ghl_contact_id=payloads.GHL_CONTACT_ID)

        ghl.deliver(payloads.ghl_dnd(dnd=True))

        assert not one(Contact, Contact.id == theirs.id).sms_opted_out
        assert one(Contact, Contact.id == known_contact.id).sms_opted_out


def test_event_types_we_do_not_handle_are_acknowledged_and_ignored(ghl):
    payload = {**payloads.ghl_inbound(), "type": "ConversationUnreadUpdate"}

    assert ghl.deliver(payload).status_code == 200

    assert count(Message) == 0
    assert one(WebhookEvent).state == "processed"


# --- The seed's legacy event names: aliases of the real events, one code path ----------------


def legacy(name: str, **fields) -> dict:
    """A delivery under one of the seed's names, as the earlier backend received them."""
    return {
        "type": name,
        "locationId": payloads.LOCATION_ID,
        "contactId": payloads.GHL_CONTACT_ID,
        "messageId": payloads.ghl_id(),
        "body": "Hi from the old webhook",
        **fields,
    }


@pytest.mark.parametrize("name", ["IncomingSMS", "sms.inbound"])
def test_legacy_inbound_sms_is_an_inbound_message(ghl, name):
    ghl.deliver(legacy(name))

    event, message = one(WebhookEvent), one(Message)
    assert event.event_type == "InboundMessage"
    assert (message.channel, message.direction, message.body) == ("sms", "inbound", "Hi from the old webhook")


@pytest.mark.parametrize(
    ("incoming", "completed"), [("IncomingCall", "CallCompleted"), ("call.inbound", "call.completed")]
)
def test_legacy_call_events_make_and_complete_one_voice_message(ghl, incoming, completed):
    call_id = payloads.ghl_id()

    ghl.deliver(legacy(incoming, messageId=call_id, body="", status="ringing"))
    ghl.deliver(
        legacy(completed, messageId=call_id, body="", status="completed", callDuration=61, attachments=["https://r/1"])
    )

    message = one(Message)
    assert (message.channel, message.call_duration_seconds, message.recording_url) == ("voice", 61, "https://r/1")
    assert [e.event_type for e in all_rows(WebhookEvent)] == ["InboundMessage", "InboundMessage"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("SMSDelivered", "delivered"), ("sms.delivered", "delivered"), ("SMSFailed", "failed"), ("sms.failed", "failed")],
)
def test_legacy_status_events_move_our_message(ghl, ghl_tenant, known_contact, name, expected):
    message = factories.make_message(
        conversation=factories.make_conversation(tenant=ghl_tenant, contact=known_contact),
        direction="outbound",
        delivery_status="sent",
        ghl_message_id=payloads.ghl_id(),
    )

    ghl.deliver({"type": name, "locationId": payloads.LOCATION_ID, "messageId": message.ghl_message_id})

    assert one(Message).delivery_status == expected


def test_legacy_and_current_names_give_the_same_result(ghl, ghl_tenant, known_contact):
    ghl.deliver(legacy("IncomingSMS", body="one", messageId="legacy-1"))
    ghl.deliver(payloads.ghl_inbound(body="two", messageId="current-1"))

    first, second = all_rows(Message)
    assert (first.conversation_id, first.channel, first.direction, first.sender_type, first.delivery_status) == (
        second.conversation_id,
        second.channel,
        second.direction,
        second.sender_type,
        second.delivery_status,
    )
