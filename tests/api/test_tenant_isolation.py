"""Another tenant's ids are a 404 on every endpoint, and calling them changes nothing."""

import pytest

from app.extensions import db
from app.models import Contact, Conversation, Message
from tests import factories
from tests.api.helpers import count, error_of


@pytest.fixture
def tenant_a(tenant, admin, staff):
    """Acme's contact, its open web conversation (assigned, one unread message) and a closed one."""
    contact = factories.make_contact(
        tenant=tenant, first_name="Alice", last_name="Acme", phone="+15551230000", email="alice@acme.test"
    )
    conversation = factories.make_conversation(tenant=tenant, contact=contact, channel="web", assigned_to=staff.id)
    message = factories.make_message(conversation=conversation, body="Private to Acme")
    closed = factories.make_conversation(tenant=tenant, contact=contact, channel="sms", status="closed")
    return {"contact": contact, "conversation": conversation, "message": message, "closed": closed, "staff": staff}


def snapshot(a: dict) -> dict:
    db.session.expire_all()
    conversation = db.session.get(Conversation, a["conversation"].id)
    closed = db.session.get(Conversation, a["closed"].id)
    contact = db.session.get(Contact, a["contact"].id)
    message = db.session.get(Message, a["message"].id)
    return {
        "conversation": (conversation.status, conversation.assigned_to, conversation.meta, conversation.visitor_name),
        "closed": closed.status,
        "messages": count(Message, Message.conversation_id == conversation.id),
        "message_read_at": message.read_at,
        "contact": (contact.first_name, contact.last_name, contact.phone, contact.email, contact.sms_opted_out_at),
        "contact_conversations": count(Conversation, Conversation.contact_id == contact.id),
    }


def test_every_endpoint_that_takes_an_id_answers_404_to_another_tenant(other_api, tenant_a):
    before = snapshot(tenant_a)
    conversation_id = tenant_a["conversation"].id
    contact_id = tenant_a["contact"].id
    calls = [
        ("GET", f"/api/v1/conversations/{conversation_id}", None),
        ("PUT", f"/api/v1/conversations/{conversation_id}", {"status": "closed", "visitor_name": "Mallory"}),
        ("PUT", f"/api/v1/conversations/{conversation_id}", {"metadata": {"owned": "by mallory"}}),
        ("POST", f"/api/v1/conversations/{conversation_id}/assign", None),
        ("POST", f"/api/v1/conversations/{conversation_id}/assign", {"user_id": None}),
        ("POST", f"/api/v1/conversations/{conversation_id}/close", None),
        ("POST", f"/api/v1/conversations/{tenant_a['closed'].id}/reopen", None),
        ("GET", f"/api/v1/conversations/{conversation_id}/messages", None),
        ("GET", f"/api/v1/conversations/{conversation_id}/messages?before=999999", None),
        ("POST", f"/api/v1/conversations/{conversation_id}/messages", {"message": "Injected"}),
        ("POST", f"/api/v1/conversations/{conversation_id}/read", None),
        ("POST", f"/api/v1/conversations/{conversation_id}/read", {"up_to_message_id": tenant_a["message"].id}),
        ("GET", f"/api/v1/contacts/{contact_id}", None),
        ("PUT", f"/api/v1/contacts/{contact_id}", {"first_name": "Mallory", "sms_opted_out": True}),
        ("POST", "/api/v1/conversations/send", {"contact_id": contact_id, "message": "Injected", "channel": "web"}),
        ("POST", "/api/v1/conversations", {"contact_id": contact_id, "channel": "web"}),
    ]

    for method, path, body in calls:
        response = other_api.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.json)
        assert error_of(response)["code"] in ("conversation_not_found", "contact_not_found"), (method, path)

    assert snapshot(tenant_a) == before


def test_another_tenants_404_is_the_same_as_for_an_id_that_never_existed(other_api, tenant_a):
    theirs = other_api.get(f"/api/v1/conversations/{tenant_a['conversation'].id}")
    missing = other_api.get("/api/v1/conversations/999999999")

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json == missing.json


def test_filtering_by_another_tenants_ids_lists_nothing(other_api, tenant_a):
    for query in (f"contact_id={tenant_a['contact'].id}", f"assigned_to={tenant_a['staff'].id}", "search=Alice"):
        response = other_api.get(f"/api/v1/conversations?{query}")
        assert response.status_code == 200, query
        assert response.json["data"] == [], query
        assert response.json["meta"]["total"] == 0, query


def test_assigning_to_a_user_of_another_tenant_is_a_404(api, tenant_a, other_tenant):
    outsider = factories.make_user(tenant=other_tenant, email="outsider@globex.test")
    conversation_id = tenant_a["conversation"].id
    before = snapshot(tenant_a)

    assign = api.post(f"/api/v1/conversations/{conversation_id}/assign", json={"user_id": outsider.id})
    update = api.put(f"/api/v1/conversations/{conversation_id}", json={"assigned_to": outsider.id})
    create = api.post("/api/v1/conversations", json={"channel": "web", "assigned_to": outsider.id})

    assert [assign.status_code, update.status_code, create.status_code] == [404, 404, 404]
    assert snapshot(tenant_a) == before


def test_another_tenants_contacts_and_users_are_not_listed(other_api, tenant_a):
    assert other_api.get("/api/v1/contacts?search=Alice").json["data"] == []
    assert {u["email"] for u in other_api.get("/api/v1/users").json["data"]} == {"admin@globex.test"}
    assert other_api.get("/api/v1/conversations/unread").json["data"]["total"] == 0
