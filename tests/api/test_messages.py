"""A conversation's messages: paging back through history, sending, and marking read."""

import re

import pytest

from app.extensions import db
from app.models import Conversation, Message
from app.services import queries
from tests import factories
from tests.api.helpers import error_of, stored_messages
from tests.queue import Job

UTC_SECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def history(tenant):
    """A web conversation with seven messages; returns (conversation, messages oldest first)."""
    conversation = factories.make_conversation(tenant=tenant, channel="web")
    messages = [
        factories.make_message(conversation=conversation, direction="inbound" if i % 2 else "outbound", body=f"m{i}")
        for i in range(7)
    ]
    return conversation, messages


def bodies(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [m["body"] for m in response.json["data"]]


class TestListingMessages:
    def test_the_newest_page_comes_first_oldest_first_within_it(self, api, history):
        conversation, _ = history

        response = api.get(f"/api/v1/conversations/{conversation.id}/messages?limit=3")

        assert bodies(response) == ["m4", "m5", "m6"]
        assert response.json["meta"]["total"] == 7

    def test_offset_skips_the_newest_messages(self, api, history):
        conversation, _ = history

        response = api.get(f"/api/v1/conversations/{conversation.id}/messages?limit=3&offset=3")

        assert bodies(response) == ["m1", "m2", "m3"]
        assert response.json["meta"] == {
            "total": 7,
            "limit": 3,
            "offset": 3,
            "next_before": response.json["data"][0]["id"],
        }

    def test_the_before_cursor_pages_back_in_time_until_the_start(self, api, history):
        conversation, messages = history
        url = f"/api/v1/conversations/{conversation.id}/messages?limit=3"

        first = api.get(url)
        second = api.get(f"{url}&before={first.json['meta']['next_before']}")
        third = api.get(f"{url}&before={second.json['meta']['next_before']}")

        assert bodies(first) == ["m4", "m5", "m6"]
        assert first.json["meta"]["next_before"] == messages[4].id
        assert bodies(second) == ["m1", "m2", "m3"]
        assert second.json["meta"]["next_before"] == messages[1].id
        assert bodies(third) == ["m0"]
        assert third.json["meta"]["next_before"] is None

    def test_the_cursor_is_stable_when_new_messages_arrive(self, api, history):
        conversation, messages = history
        url = f"/api/v1/conversations/{conversation.id}/messages?limit=3"
        cursor = api.get(url).json["meta"]["next_before"]

        factories.make_message(conversation=conversation, body="late arrival")

        assert bodies(api.get(f"{url}&before={cursor}")) == ["m1", "m2", "m3"]

    def test_a_page_that_reaches_the_start_has_no_next_cursor(self, api, history):
        conversation, _ = history

        response = api.get(f"/api/v1/conversations/{conversation.id}/messages")

        assert bodies(response) == [f"m{i}" for i in range(7)]
        assert response.json["meta"] == {"total": 7, "limit": 50, "offset": 0, "next_before": None}

    def test_a_long_threads_total_is_counted_only_a_bounded_way_past_the_page(self, api, history, monkeypatch):
        conversation, _ = history
        monkeypatch.setattr(queries, "COUNT_AHEAD", 2)
        url = f"/api/v1/conversations/{conversation.id}/messages?limit=2"

        assert api.get(url).json["meta"]["total"] == 2 + 2  # a lower bound, still past the page
        assert api.get(f"{url}&offset=4").json["meta"]["total"] == 7  # the start is in sight: exact

    def test_messages_carry_their_delivery_details(self, api, tenant):
        conversation = factories.make_conversation(tenant=tenant, channel="web")
        factories.make_message(conversation=conversation, direction="outbound", body="Hi", sender_id=None)

        [message] = api.get(f"/api/v1/conversations/{conversation.id}/messages").json["data"]

        assert message["direction"] == "outbound"
        assert message["delivery_status"] == "sent"
        assert message["conversation_id"] == conversation.id
        assert UTC_SECOND.match(message["inserted_at"])

    @pytest.mark.parametrize("query", ["limit=0", "offset=-1", "before=abc", "since=1"])
    def test_a_bad_query_is_a_422(self, api, history, query):
        conversation, _ = history

        response = api.get(f"/api/v1/conversations/{conversation.id}/messages?{query}")

        assert response.status_code == 422
        assert error_of(response)["code"] == "validation_failed"

    def test_an_unknown_conversation_is_a_404(self, api):
        assert api.get("/api/v1/conversations/999999/messages").status_code == 404

    def test_a_conversation_with_no_messages_yet_is_an_empty_page(self, api, tenant):
        conversation = factories.make_conversation(tenant=tenant)

        response = api.get(f"/api/v1/conversations/{conversation.id}/messages")

        assert response.status_code == 200
        assert (response.json["data"], response.json["meta"]["total"]) == ([], 0)


class TestSendingInAConversation:
    def test_a_web_message_is_stored_as_sent_in_a_standalone_account(self, api, tenant, admin):
        conversation = factories.make_conversation(tenant=tenant, channel="web")

        response = api.post(
            f"/api/v1/conversations/{conversation.id}/messages", json={"message": "Thanks for your reply!"}
        )

        assert response.status_code == 201
        data = response.json["data"]
        assert set(data) == {"conversation", "message", "status"}
        assert data["status"] == "sent"
        assert data["conversation"]["id"] == conversation.id
        assert data["conversation"]["last_message"]["id"] == data["message"]["id"]
        message = db.session.get(Message, data["message"]["id"])
        assert (message.body, message.direction, message.sender_type, message.sender_id) == (
            "Thanks for your reply!",
            "outbound",
            "staff",
            admin.id,
        )
        assert message.delivery_status == "sent"

    def test_an_sms_without_a_provider_is_refused_and_nothing_is_stored(self, api, tenant, john):
        conversation = factories.make_conversation(tenant=tenant, contact=john, channel="sms")

        response = api.post(f"/api/v1/conversations/{conversation.id}/messages", json={"message": "Hello"})

        assert response.status_code == 422
        assert error_of(response)["code"] == "channel_unavailable"
        assert stored_messages(tenant) == 0

    def test_an_sms_with_a_provider_is_stored_pending_and_queued_for_the_worker(self, client, queue):
        tenant = factories.make_tenant(name="Texting", sms_provider="simulator")
        api = factories.ApiClient(client, factories.make_token(user=factories.make_user(tenant=tenant)))
        contact = factories.make_contact(tenant=tenant, phone="+15551234567")
        conversation = factories.make_conversation(tenant=tenant, contact=contact, channel="sms")
        response = api.post(f"/api/v1/conversations/{conversation.id}/messages", json={"message": "Hello"})

        assert response.status_code == 201
        assert response.json["data"]["status"] == "pending"
        message_id = response.json["data"]["message"]["id"]
        assert queue == [Job("messages.send", (tenant.id, message_id))]

    def test_a_staff_message_reopens_a_closed_conversation(self, api, tenant):
        conversation = factories.make_conversation(tenant=tenant, channel="web", status="closed")

        response = api.post(f"/api/v1/conversations/{conversation.id}/messages", json={"message": "One more thing"})

        assert response.status_code == 201
        assert response.json["data"]["conversation"]["status"] == "open"
        db.session.expire_all()
        assert db.session.get(Conversation, conversation.id).status == "open"

    def test_a_closed_conversation_whose_contact_has_since_started_another_points_there(self, api, tenant):
        contact = factories.make_contact(tenant=tenant, phone="+15551112222")
        closed = factories.make_conversation(tenant=tenant, contact=contact, channel="web", status="closed")
        current = factories.make_conversation(tenant=tenant, contact=contact, channel="web")

        response = api.post(f"/api/v1/conversations/{closed.id}/messages", json={"message": "One more thing"})

        assert response.status_code == 409
        assert error_of(response)["code"] == "conversation_exists"
        assert error_of(response)["fields"] == {"conversation_id": [current.id]}
        assert stored_messages(tenant) == 0

    def test_an_archived_conversation_refuses_messages(self, api, tenant):
        conversation = factories.make_conversation(tenant=tenant, channel="web", status="archived")

        response = api.post(f"/api/v1/conversations/{conversation.id}/messages", json={"message": "Hello?"})

        assert response.status_code == 409
        assert error_of(response)["code"] == "conversation_archived"
        assert stored_messages(tenant) == 0

    def test_a_contact_who_opted_out_is_not_texted(self, client):
        tenant = factories.make_tenant(name="Texting", sms_provider="simulator")
        api = factories.ApiClient(client, factories.make_token(user=factories.make_user(tenant=tenant)))
        contact = factories.make_contact(tenant=tenant, phone="+15551234567")
        conversation = factories.make_conversation(tenant=tenant, contact=contact, channel="sms")
        api.put(f"/api/v1/contacts/{contact.id}", json={"sms_opted_out": True})

        response = api.post(f"/api/v1/conversations/{conversation.id}/messages", json={"message": "Sale today!"})

        assert response.status_code == 422
        assert error_of(response)["code"] == "opted_out"
        assert stored_messages(tenant) == 0

    def test_a_message_of_1600_characters_is_accepted(self, api, tenant):
        conversation = factories.make_conversation(tenant=tenant, channel="web")

        response = api.post(f"/api/v1/conversations/{conversation.id}/messages", json={"message": "x" * 1600})

        assert response.status_code == 201
        assert response.json["data"]["message"]["body"] == "x" * 1600

    @pytest.mark.parametrize(
        "body",
        [{"message": "x" * 1601}, {"message": ""}, {}, {"message": None}, {"message": "hi", "urgent": True}],
        ids=["1601-chars", "empty", "missing", "null", "unknown-field"],
    )
    def test_an_invalid_message_is_a_422_and_nothing_is_stored(self, api, tenant, body):
        conversation = factories.make_conversation(tenant=tenant, channel="web")

        response = api.post(f"/api/v1/conversations/{conversation.id}/messages", json=body)

        assert response.status_code == 422
        assert error_of(response)["code"] == "validation_failed"
        assert stored_messages(tenant) == 0


class TestMarkingRead:
    def test_marking_read_clears_the_unread_count(self, api, tenant):
        conversation = factories.make_conversation(tenant=tenant, channel="web")
        for _ in range(3):
            factories.make_message(conversation=conversation)
        factories.make_message(conversation=conversation, direction="outbound")

        response = api.post(f"/api/v1/conversations/{conversation.id}/read")

        assert response.status_code == 200
        assert response.json["data"] == {"conversation_id": conversation.id, "marked_read": 3, "unread_count": 0}
        assert api.get(f"/api/v1/conversations/{conversation.id}").json["data"]["unread_count"] == 0
        assert api.get("/api/v1/conversations/unread").json["data"]["total"] == 0

    def test_marking_read_up_to_a_message_leaves_newer_ones_unread(self, api, tenant):
        conversation = factories.make_conversation(tenant=tenant, channel="web")
        older = [factories.make_message(conversation=conversation) for _ in range(2)]
        newer = factories.make_message(conversation=conversation)

        response = api.post(f"/api/v1/conversations/{conversation.id}/read", json={"up_to_message_id": older[-1].id})

        assert response.json["data"]["marked_read"] == 2
        assert response.json["data"]["unread_count"] == 1
        db.session.expire_all()
        assert [db.session.get(Message, m.id).read_at is not None for m in (*older, newer)] == [True, True, False]

    def test_marking_read_twice_marks_nothing_the_second_time(self, api, tenant):
        conversation = factories.make_conversation(tenant=tenant, channel="web")
        factories.make_message(conversation=conversation)
        api.post(f"/api/v1/conversations/{conversation.id}/read")

        response = api.post(f"/api/v1/conversations/{conversation.id}/read")

        assert response.json["data"]["marked_read"] == 0

    def test_an_unknown_field_is_a_422(self, api, tenant):
        conversation = factories.make_conversation(tenant=tenant, channel="web")

        response = api.post(f"/api/v1/conversations/{conversation.id}/read", json={"up_to": 1})

        assert response.status_code == 422
