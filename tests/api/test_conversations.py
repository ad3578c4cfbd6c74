"""One conversation: starting it, reading it, changing it, assigning, closing and reopening it."""

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Contact, Conversation
from tests import factories
from tests.api.helpers import error_of, stored_conversations


def fresh(conversation: Conversation) -> Conversation:
    db.session.expire_all()
    return db.session.get(Conversation, conversation.id)


class TestStartingAConversation:
    @pytest.fixture(autouse=True)
    def _with_a_provider(self, tenant):
        """Phone channels need a provider; on a standalone account they answer 422 (tests/api/test_hostile_input.py)."""
        tenant.sms_provider = "simulator"
        db.session.commit()

    def test_with_an_existing_contact(self, api, john):
        response = api.post("/api/v1/conversations", json={"channel": "sms", "contact_id": john.id})

        assert response.status_code == 201
        data = response.json["data"]
        assert data["status"] == "open"
        assert data["channel"] == "sms"
        assert data["contact_id"] == john.id
        assert data["phone_number"] == "+15551234567"
        assert data["contact"]["first_name"] == "John"

    def test_with_a_phone_number_creates_the_contact_in_e164(self, api, tenant):
        response = api.post("/api/v1/conversations", json={"channel": "sms", "phone": "(555) 987-6543"})

        assert response.status_code == 201
        data = response.json["data"]
        assert data["phone_number"] == "+15559876543"
        assert data["contact"]["phone"] == "+15559876543"
        contact = db.session.get(Contact, data["contact_id"])
        assert (contact.tenant_id, contact.phone) == (tenant.id, "+15559876543")

    def test_with_the_phone_of_a_known_contact_uses_that_contact(self, api, john):
        response = api.post("/api/v1/conversations", json={"channel": "whatsapp", "phone": "555-123-4567"})

        assert response.status_code == 201
        assert response.json["data"]["contact_id"] == john.id

    def test_for_a_web_visitor(self, api):
        response = api.post(
            "/api/v1/conversations",
            json={
                "channel": "web",
                "visitor_name": "Wanda",
                "visitor_email": "wanda@visitors.test",
                "visitor_phone": "+44 20 7946 0958",
                "metadata": {"page": "/pricing"},
            },
        )

        assert response.status_code == 201
        data = response.json["data"]
        assert data["contact"] is None
        assert data["phone_number"] is None
        assert (data["visitor_name"], data["visitor_email"], data["visitor_phone"]) == (
            "Wanda",
            "wanda@visitors.test",
            "+442079460958",
        )
        assert data["metadata"] == {"page": "/pricing"}

    def test_assigned_to_a_colleague(self, api, staff):
        response = api.post("/api/v1/conversations", json={"channel": "web", "assigned_to": staff.id})

        assert response.status_code == 201
        assert response.json["data"]["assigned_to"] == staff.id

    def test_a_second_open_conversation_for_the_same_contact_and_channel_is_a_conflict(self, api, tenant, john):
        existing = factories.make_conversation(tenant=tenant, contact=john, channel="sms")

        response = api.post("/api/v1/conversations", json={"channel": "sms", "contact_id": john.id})

        assert response.status_code == 409
        error = error_of(response)
        assert error["code"] == "conversation_exists"
        assert error["fields"] == {"conversation_id": [existing.id]}
        assert stored_conversations(tenant) == 1

    def test_the_same_contact_may_have_one_open_conversation_per_channel(self, api, tenant, john):
        factories.make_conversation(tenant=tenant, contact=john, channel="sms")

        assert api.post("/api/v1/conversations", json={"channel": "whatsapp", "contact_id": john.id}).status_code == 201

    def test_a_closed_conversation_does_not_block_a_new_one(self, api, tenant, john):
        factories.make_conversation(tenant=tenant, contact=john, channel="sms", status="closed")

        assert api.post("/api/v1/conversations", json={"channel": "sms", "contact_id": john.id}).status_code == 201

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "channel"),
            ({"channel": "fax"}, "channel"),
            ({"channel": "sms", "phone": "12"}, "phone"),
            ({"channel": "web", "visitor_email": "not-an-email"}, "visitor_email"),
            ({"channel": "web", "colour": "blue"}, "colour"),
            ({"channel": "sms", "contact_id": 1, "phone": "+15551234567"}, "_schema"),
        ],
    )
    def test_an_invalid_body_is_a_422_naming_the_field(self, api, tenant, body, field):
        response = api.post("/api/v1/conversations", json=body)

        assert response.status_code == 422
        assert field in error_of(response)["fields"]
        assert stored_conversations(tenant) == 0

    def test_with_an_unknown_contact_is_a_404(self, api, tenant):
        response = api.post("/api/v1/conversations", json={"channel": "sms", "contact_id": 999_999})

        assert response.status_code == 404
        assert error_of(response)["code"] == "contact_not_found"


class TestReadingAConversation:
    def test_returns_the_conversation_with_its_messages_oldest_first(self, api, tenant, john):
        conversation = factories.make_conversation(tenant=tenant, contact=john)
        first = factories.make_message(conversation=conversation, body="Hi")
        second = factories.make_message(conversation=conversation, direction="outbound", body="Hello John")
        third = factories.make_message(conversation=conversation, body="Thanks")

        response = api.get(f"/api/v1/conversations/{conversation.id}")

        assert response.status_code == 200
        data = response.json["data"]
        assert data["id"] == conversation.id
        assert data["contact"]["id"] == john.id
        assert [m["id"] for m in data["messages"]] == [first.id, second.id, third.id]
        assert [m["body"] for m in data["messages"]] == ["Hi", "Hello John", "Thanks"]
        assert data["unread_count"] == 2

    def test_an_unknown_id_is_a_404_envelope(self, api):
        response = api.get("/api/v1/conversations/999999")

        assert response.status_code == 404
        assert error_of(response)["code"] == "conversation_not_found"


class TestChangingAConversation:
    def test_status_assignee_metadata_and_visitor_details_can_be_changed(self, api, tenant, staff):
        conversation = factories.make_conversation(tenant=tenant, channel="web")

        response = api.put(
            f"/api/v1/conversations/{conversation.id}",
            json={
                "status": "closed",
                "assigned_to": staff.id,
                "metadata": {"priority": "high"},
                "visitor_name": "Wanda",
                "visitor_email": "wanda@visitors.test",
                "visitor_phone": "555 222 3333",
            },
        )

        assert response.status_code == 200
        data = response.json["data"]
        assert data["status"] == "closed"
        assert data["assigned_to"] == staff.id
        assert data["metadata"] == {"priority": "high"}
        assert (data["visitor_name"], data["visitor_email"], data["visitor_phone"]) == (
            "Wanda",
            "wanda@visitors.test",
            "+15552223333",
        )
        stored = fresh(conversation)
        assert (stored.status, stored.assigned_to, stored.meta) == ("closed", staff.id, {"priority": "high"})

    def test_fields_left_out_are_left_alone(self, api, tenant, staff):
        conversation = factories.make_conversation(
            tenant=tenant, channel="web", assigned_to=staff.id, visitor_name="Wanda"
        )

        api.put(f"/api/v1/conversations/{conversation.id}", json={"status": "closed"})

        stored = fresh(conversation)
        assert (stored.assigned_to, stored.visitor_name) == (staff.id, "Wanda")

    def test_assignee_can_be_cleared_with_null(self, api, tenant, staff):
        conversation = factories.make_conversation(tenant=tenant, channel="web", assigned_to=staff.id)

        response = api.put(f"/api/v1/conversations/{conversation.id}", json={"assigned_to": None})

        assert response.json["data"]["assigned_to"] is None

    def test_assigning_a_user_of_another_tenant_is_a_404(self, api, tenant, other_tenant):
        outsider = factories.make_user(tenant=other_tenant)
        conversation = factories.make_conversation(tenant=tenant, channel="web")

        response = api.put(f"/api/v1/conversations/{conversation.id}", json={"assigned_to": outsider.id})

        assert response.status_code == 404
        assert fresh(conversation).assigned_to is None

    def test_reopening_by_update_when_another_is_open_is_a_conflict(self, api, tenant, john):
        closed = factories.make_conversation(tenant=tenant, contact=john, status="closed")
        factories.make_conversation(tenant=tenant, contact=john, status="open")

        response = api.put(f"/api/v1/conversations/{closed.id}", json={"status": "open"})

        assert response.status_code == 409
        assert error_of(response)["code"] == "conversation_exists"
        assert fresh(closed).status == "closed"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"status": "deleted"}, "status"),
            ({"channel": "sms"}, "channel"),
            ({"visitor_email": "nope"}, "visitor_email"),
        ],
    )
    def test_an_invalid_change_is_a_422(self, api, tenant, body, field):
        conversation = factories.make_conversation(tenant=tenant, channel="web")

        response = api.put(f"/api/v1/conversations/{conversation.id}", json=body)

        assert response.status_code == 422
        assert field in error_of(response)["fields"]


class TestAssigning:
    def test_an_empty_request_assigns_the_caller(self, staff_api, tenant, staff):
        conversation = factories.make_conversation(tenant=tenant, channel="web")

        response = staff_api.post(f"/api/v1/conversations/{conversation.id}/assign")

        assert response.status_code == 200
        assert response.json["data"]["assigned_to"] == staff.id
        assert fresh(conversation).assigned_to == staff.id

    def test_an_empty_json_object_assigns_the_caller(self, api, tenant, admin):
        conversation = factories.make_conversation(tenant=tenant, channel="web")

        response = api.post(f"/api/v1/conversations/{conversation.id}/assign", json={})

        assert response.json["data"]["assigned_to"] == admin.id

    def test_assign_to_me_refuses_a_conversation_a_colleague_already_took(self, api, tenant, staff):
        conversation = factories.make_conversation(tenant=tenant, channel="web", assigned_to=staff.id)

        response = api.post(f"/api/v1/conversations/{conversation.id}/assign")

        assert response.status_code == 409
        assert error_of(response)["code"] == "already_assigned"
        assert error_of(response)["fields"] == {"assigned_to": [staff.id]}
        assert fresh(conversation).assigned_to == staff.id

    def test_assign_to_me_on_my_own_conversation_is_harmless(self, staff_api, tenant, staff):
        conversation = factories.make_conversation(tenant=tenant, channel="web", assigned_to=staff.id)

        assert staff_api.post(f"/api/v1/conversations/{conversation.id}/assign").status_code == 200

    def test_an_explicit_user_id_reassigns_a_taken_conversation(self, api, tenant, staff, admin):
        conversation = factories.make_conversation(tenant=tenant, channel="web", assigned_to=staff.id)

        response = api.post(f"/api/v1/conversations/{conversation.id}/assign", json={"user_id": admin.id})

        assert response.json["data"]["assigned_to"] == admin.id

    def test_a_user_id_assigns_that_user(self, api, tenant, staff):
        conversation = factories.make_conversation(tenant=tenant, channel="web")

        response = api.post(f"/api/v1/conversations/{conversation.id}/assign", json={"user_id": staff.id})

        assert response.json["data"]["assigned_to"] == staff.id
        assert fresh(conversation).assigned_to == staff.id

    def test_a_null_user_id_unassigns(self, api, tenant, staff):
        conversation = factories.make_conversation(tenant=tenant, channel="web", assigned_to=staff.id)

        response = api.post(f"/api/v1/conversations/{conversation.id}/assign", json={"user_id": None})

        assert response.status_code == 200
        assert response.json["data"]["assigned_to"] is None
        assert fresh(conversation).assigned_to is None

    def test_a_user_of_another_tenant_is_a_404(self, api, tenant, other_tenant):
        outsider = factories.make_user(tenant=other_tenant)
        conversation = factories.make_conversation(tenant=tenant, channel="web")

        response = api.post(f"/api/v1/conversations/{conversation.id}/assign", json={"user_id": outsider.id})

        assert response.status_code == 404
        assert fresh(conversation).assigned_to is None


class TestClosingAndReopening:
    def test_closing_an_open_conversation(self, api, tenant):
        conversation = factories.make_conversation(tenant=tenant, channel="web")

        response = api.post(f"/api/v1/conversations/{conversation.id}/close")

        assert response.status_code == 200
        assert response.json["data"]["status"] == "closed"
        assert fresh(conversation).status == "closed"

    def test_closing_an_archived_conversation_is_a_conflict(self, api, tenant):
        conversation = factories.make_conversation(tenant=tenant, channel="web", status="archived")

        response = api.post(f"/api/v1/conversations/{conversation.id}/close")

        assert response.status_code == 409
        assert error_of(response)["code"] == "conversation_archived"
        assert fresh(conversation).status == "archived"

    def test_an_update_cannot_close_an_archived_conversation_either(self, api, tenant):
        conversation = factories.make_conversation(tenant=tenant, channel="web", status="archived")

        response = api.put(f"/api/v1/conversations/{conversation.id}", json={"status": "closed"})

        assert response.status_code == 409
        assert error_of(response)["code"] == "conversation_archived"
        assert fresh(conversation).status == "archived"

    @pytest.mark.parametrize("status", ["closed", "archived"])
    def test_reopening(self, api, tenant, status):
        conversation = factories.make_conversation(tenant=tenant, channel="web", status=status)

        response = api.post(f"/api/v1/conversations/{conversation.id}/reopen")

        assert response.status_code == 200
        assert response.json["data"]["status"] == "open"
        assert fresh(conversation).status == "open"

    def test_reopening_when_the_contact_has_another_open_conversation_on_the_channel_is_a_conflict(
        self, api, tenant, john
    ):
        closed = factories.make_conversation(tenant=tenant, contact=john, channel="sms", status="closed")
        factories.make_conversation(tenant=tenant, contact=john, channel="sms", status="open")

        response = api.post(f"/api/v1/conversations/{closed.id}/reopen")

        assert response.status_code == 409
        assert error_of(response)["code"] == "conversation_exists"
        assert fresh(closed).status == "closed"
        open_count = db.session.scalar(
            sa.select(sa.func.count()).where(Conversation.contact_id == john.id, Conversation.status == "open")
        )
        assert open_count == 1
