"""A row of a list shows what the object's own endpoint shows.

Lists read their rows as plain columns (queries.View), not through the ORM objects the
single-object endpoints dump; the app relies on both giving the same fields and values.
"""

from tests import factories

LONG_BODY = "Is my order ready? " * 20  # longer than a preview's 160 characters


def test_an_inbox_row_is_the_conversation_without_its_messages(api, tenant, john):
    conversation = factories.make_conversation(tenant=tenant, contact=john, meta={"order": 42, "tags": ["vip"]})
    factories.make_message(conversation=conversation, body="first", read=True)
    factories.make_message(conversation=conversation, body=LONG_BODY)
    visitor = factories.make_conversation(tenant=tenant, channel="web", visitor_name="Ana", visitor_email="a@b.co")

    rows = {row["id"]: row for row in api.get("/api/v1/conversations").json["data"]}

    for shown in (conversation, visitor):
        detail = api.get(f"/api/v1/conversations/{shown.id}").json["data"]
        del detail["messages"]
        assert rows[shown.id] == detail
    assert rows[conversation.id]["contact"]["first_name"] == john.first_name
    assert rows[conversation.id]["last_message"]["body"] == LONG_BODY[:160]
    assert rows[conversation.id]["unread_count"] == 1
    assert rows[conversation.id]["metadata"] == {"order": 42, "tags": ["vip"]}
    assert rows[visitor.id]["contact"] is None
    assert rows[visitor.id]["last_message"] is None


def test_a_threads_page_shows_each_message_as_the_conversation_does(api, tenant, john):
    conversation = factories.make_conversation(tenant=tenant, contact=john)
    factories.make_message(
        conversation=conversation,
        body="Look",
        attachments=[{"url": "https://cdn.example/a.jpg", "content_type": "image/jpeg"}],
    )
    factories.make_message(
        conversation=conversation,
        direction="outbound",
        delivery_status="failed",
        error_code="30007",
        error_message="Carrier violation",
    )
    factories.make_message(conversation=conversation, body="", call_duration_seconds=42, transcript="Call me back")

    page = api.get(f"/api/v1/conversations/{conversation.id}/messages").json["data"]
    detail = api.get(f"/api/v1/conversations/{conversation.id}").json["data"]["messages"]

    assert page == detail
    assert [message["attachments"] for message in page][0] == [
        {"url": "https://cdn.example/a.jpg", "content_type": "image/jpeg"}
    ]
    assert page[1]["error_code"] == "30007"
    assert page[2]["call_duration_seconds"] == 42


def test_a_contacts_row_is_the_contact(api, tenant):
    opted_out = factories.make_contact(tenant=tenant, first_name="Ann", phone="+15551230001")
    still_in = factories.make_contact(tenant=tenant, first_name="Bob", phone="+15551230002")
    api.put(f"/api/v1/contacts/{opted_out.id}", json={"sms_opted_out": True, "calls_opted_out": True})

    rows = {row["id"]: row for row in api.get("/api/v1/contacts").json["data"]}

    for contact in (opted_out, still_in):
        assert rows[contact.id] == api.get(f"/api/v1/contacts/{contact.id}").json["data"]
    assert rows[opted_out.id]["sms_opted_out"] is True
    assert rows[opted_out.id]["calls_opted_out"] is True
    assert rows[still_in.id]["sms_opted_out"] is False
