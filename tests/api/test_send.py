"""POST /api/v1/conversations/send (the seed's reference example) and GET /api/v1/conversations/unread."""

import re

import pytest

from app import jobs
from app.models import Contact, Conversation
from tests import factories
from tests.api.helpers import count, error_of, stored_conversations, stored_messages

SEED_EXAMPLE = {"message": "Hello! This is a test message.", "channel": "sms"}  # plus "contact_id"
UTC_SECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class TestSendingToAContact:
    def test_the_seed_example_on_sms_is_refused_in_a_standalone_account_and_nothing_is_stored(self, api, tenant, john):
        response = api.post("/api/v1/conversations/send", json={"contact_id": john.id, **SEED_EXAMPLE})

        assert response.status_code == 422
        assert error_of(response)["code"] == "channel_unavailable"
        assert stored_conversations(tenant) == 0
        assert stored_messages(tenant) == 0

    def test_on_web_it_answers_in_the_seed_example_shape(self, api, tenant, john):
        response = api.post(
            "/api/v1/conversations/send", json={"contact_id": john.id, **SEED_EXAMPLE, "channel": "web"}
        )

        assert response.status_code == 201
        data = response.json["data"]
        conversation, message = data["conversation"], data["message"]
        assert {"id", "channel", "status", "phone_number", "contact"} <= set(conversation)
        assert (conversation["channel"], conversation["status"]) == ("web", "open")
        assert {key: conversation["contact"][key] for key in ("id", "first_name", "last_name", "phone")} == {
            "id": john.id,
            "first_name": "John",
            "last_name": "Doe",
            "phone": "+15551234567",
        }
        assert {"id", "body", "direction", "delivery_status", "inserted_at"} <= set(message)
        assert message["body"] == "Hello! This is a test message."
        assert message["direction"] == "outbound"
        assert message["delivery_status"] == "sent"
        assert UTC_SECOND.match(message["inserted_at"]), message["inserted_at"]
        assert data["status"] == message["delivery_status"]
        assert isinstance(conversation["id"], int)
        assert isinstance(message["id"], int)

    def test_the_channel_defaults_to_sms(self, api, tenant, john):
        response = api.post("/api/v1/conversations/send", json={"contact_id": john.id, "message": "Hi"})

        assert response.status_code == 422
        assert error_of(response)["code"] == "channel_unavailable"

    def test_reuses_the_contacts_open_conversation_on_that_channel(self, api, tenant, john):
        existing = factories.make_conversation(tenant=tenant, contact=john, channel="web")

        response = api.post(
            "/api/v1/conversations/send", json={"contact_id": john.id, "message": "Hi", "channel": "web"}
        )

        assert response.json["data"]["conversation"]["id"] == existing.id
        assert stored_conversations(tenant) == 1
        assert stored_messages(tenant) == 1

    def test_starts_a_new_conversation_when_the_contacts_last_one_is_closed(self, api, tenant, john):
        closed = factories.make_conversation(tenant=tenant, contact=john, channel="web", status="closed")

        response = api.post(
            "/api/v1/conversations/send", json={"contact_id": john.id, "message": "Hi", "channel": "web"}
        )

        assert response.status_code == 201
        assert response.json["data"]["conversation"]["id"] != closed.id
        assert stored_conversations(tenant) == 2

    def test_to_a_new_phone_number_creates_the_contact_and_the_conversation(self, api, tenant):
        response = api.post(
            "/api/v1/conversations/send",
            json={"phone": "(555) 987-6543", "message": "Hello from PewPros!", "channel": "web"},
        )

        assert response.status_code == 201
        contact = response.json["data"]["conversation"]["contact"]
        assert contact["phone"] == "+15559876543"
        assert count(Contact, Contact.tenant_id == tenant.id, Contact.phone == "+15559876543") == 1
        assert count(Conversation, Conversation.contact_id == contact["id"]) == 1

    def test_to_a_known_phone_number_uses_that_contact(self, api, tenant, john):
        response = api.post(
            "/api/v1/conversations/send", json={"phone": "+1 555 123 4567", "message": "Hi", "channel": "web"}
        )

        assert response.json["data"]["conversation"]["contact"]["id"] == john.id
        assert count(Contact, Contact.tenant_id == tenant.id) == 1

    def test_an_sms_to_a_new_phone_number_without_a_provider_creates_nothing(self, api, tenant):
        response = api.post(
            "/api/v1/conversations/send", json={"phone": "+15559876543", "message": "Hello from PewPros!"}
        )

        assert response.status_code == 422
        assert error_of(response)["code"] == "channel_unavailable"
        assert count(Contact, Contact.tenant_id == tenant.id) == 0
        assert stored_conversations(tenant) == 0

    def test_an_sms_with_a_provider_is_accepted_pending(self, client, queue):
        tenant = factories.make_tenant(name="Texting", sms_provider="simulator")
        api = factories.ApiClient(client, factories.make_token(user=factories.make_user(tenant=tenant)))
        contact = factories.make_contact(tenant=tenant, first_name="John", last_name="Doe", phone="+15551234567")
        response = api.post("/api/v1/conversations/send", json={"contact_id": contact.id, **SEED_EXAMPLE})

        assert response.status_code == 201
        conversation = response.json["data"]["conversation"]
        assert (conversation["channel"], conversation["phone_number"]) == ("sms", "+15551234567")
        assert response.json["data"]["status"] == "pending"
        assert queue.names() == [jobs.SEND_MESSAGE]

    def test_an_opted_out_contact_is_not_texted(self, client):
        tenant = factories.make_tenant(name="Texting", sms_provider="simulator")
        api = factories.ApiClient(client, factories.make_token(user=factories.make_user(tenant=tenant)))
        contact = factories.make_contact(tenant=tenant, phone="+15551234567")
        api.put(f"/api/v1/contacts/{contact.id}", json={"sms_opted_out": True})

        response = api.post("/api/v1/conversations/send", json={"contact_id": contact.id, **SEED_EXAMPLE})

        assert response.status_code == 422
        assert error_of(response)["code"] == "opted_out"
        assert stored_messages(tenant) == 0

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"message": "Hi", "channel": "web"}, "_schema"),
            ({"contact_id": 1, "phone": "+15551234567", "message": "Hi", "channel": "web"}, "_schema"),
            ({"phone": "not a phone", "message": "Hi", "channel": "web"}, "phone"),
            ({"phone": "123", "message": "Hi", "channel": "web"}, "phone"),
            ({"phone": "+15551234567", "message": "", "channel": "web"}, "message"),
            ({"phone": "+15551234567", "message": "x" * 1601, "channel": "web"}, "message"),
            ({"phone": "+15551234567", "channel": "web"}, "message"),
            ({"phone": "+15551234567", "message": "Hi", "channel": "pigeon"}, "channel"),
        ],
        ids=["neither", "both", "garbage-phone", "short-phone", "empty", "too-long", "no-message", "bad-channel"],
    )
    def test_an_invalid_request_is_a_422_naming_the_field(self, api, tenant, body, field):
        response = api.post("/api/v1/conversations/send", json=body)

        assert response.status_code == 422
        error = error_of(response)
        assert error["code"] == "validation_failed"
        assert field in error["fields"]
        assert count(Contact, Contact.tenant_id == tenant.id) == 0

    def test_an_unknown_contact_is_a_404(self, api):
        response = api.post(
            "/api/v1/conversations/send", json={"contact_id": 999_999, "message": "Hi", "channel": "web"}
        )

        assert response.status_code == 404
        assert error_of(response)["code"] == "contact_not_found"


class TestUnreadCounts:
    def test_counts_unread_inbound_messages_in_total_and_per_channel(self, api, tenant, john):
        sms = factories.make_conversation(tenant=tenant, contact=john, channel="sms")
        web = factories.make_conversation(tenant=tenant, channel="web", status="closed")
        for _ in range(2):
            factories.make_message(conversation=sms)
        factories.make_message(conversation=sms, read=True)
        factories.make_message(conversation=sms, direction="outbound")
        factories.make_message(conversation=web)

        response = api.get("/api/v1/conversations/unread")

        assert response.status_code == 200
        assert response.json["data"] == {
            "total": 3,
            "conversations": 2,
            "by_channel": {"sms": 2, "voice": 0, "email": 0, "web": 1, "whatsapp": 0},
        }

    def test_archived_conversations_do_not_count(self, api, tenant):
        archived = factories.make_conversation(tenant=tenant, channel="web", status="archived")
        factories.make_message(conversation=archived)

        assert api.get("/api/v1/conversations/unread").json["data"]["total"] == 0

    def test_other_tenants_messages_do_not_count(self, api, tenant, other_tenant):
        theirs = factories.make_conversation(tenant=other_tenant, channel="web")
        factories.make_message(conversation=theirs)
        mine = factories.make_conversation(tenant=tenant, channel="web")
        factories.make_message(conversation=mine)

        data = api.get("/api/v1/conversations/unread").json["data"]

        assert (data["total"], data["conversations"], data["by_channel"]["web"]) == (1, 1, 1)

    def test_an_empty_inbox_has_nothing_unread(self, api):
        data = api.get("/api/v1/conversations/unread").json["data"]

        assert data["total"] == 0
        assert set(data["by_channel"].values()) == {0}


def test_sending_moves_the_conversation_to_the_top_of_the_list(api, tenant, john):
    factories.make_conversation(tenant=tenant, channel="web")
    response = api.post("/api/v1/conversations/send", json={"contact_id": john.id, "message": "Hi", "channel": "web"})

    top = api.get("/api/v1/conversations").json["data"][0]

    assert top["id"] == response.json["data"]["conversation"]["id"]
    assert top["last_message"]["body"] == "Hi"
