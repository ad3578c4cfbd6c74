"""scripts/serve.sh runs on SQLite: a send goes all the way there too (claimed, sent, reported), and
the lists read there as on PostgreSQL."""

from app.extensions import db
from app.models import Message
from app.models.base import utcnow
from app.services import delivery, messages
from tests import factories


def test_a_send_on_sqlite_is_claimed_sent_and_its_delivery_recorded(sqlite_app, queue):
    tenant = factories.make_tenant(name="Dev", sms_provider="simulator")
    staff = factories.make_user(tenant=tenant, role="staff", email="staff@dev.test")
    draft = messages.Draft(body="Your table is ready", media_urls=(), idempotency_key=None)
    sent = messages.send_to_contact(tenant, staff, draft, channel="sms", phone="+14155550123")

    assert delivery.send_due_messages(tenant.id, sent.message.id) == {"sent": 1}
    delivery.check_statuses(tenant.id, [sent.message.id])
    db.session.expire_all()
    stored = db.session.get(Message, sent.message.id)
    assert (stored.delivery_status, stored.send_attempts) == ("delivered", 1)
    assert stored.provider_message_id and stored.claimed_at is not None


def test_the_lists_on_sqlite_show_what_each_object_shows(sqlite_app):
    tenant = factories.make_tenant(name="Dev")
    api = factories.ApiClient(sqlite_app.test_client(), factories.make_token(user=factories.make_user(tenant=tenant)))
    contact = factories.make_contact(tenant=tenant, phone="+14155550123", sms_opted_out_at=utcnow())
    conversation = factories.make_conversation(tenant=tenant, contact=contact, meta={"order": 42})
    factories.make_message(conversation=conversation, body="Is my order ready?")
    factories.make_conversation(tenant=tenant, channel="web", visitor_name="Ana")

    inbox = api.get("/api/v1/conversations").json["data"]
    thread = api.get(f"/api/v1/conversations/{conversation.id}/messages").json["data"]
    contacts = api.get("/api/v1/contacts").json["data"]

    details = {row["id"]: api.get(f"/api/v1/conversations/{row['id']}").json["data"] for row in inbox}
    assert [row | {"messages": details[row["id"]]["messages"]} for row in inbox] == list(details.values())
    assert thread == details[conversation.id]["messages"]
    assert contacts == [api.get(f"/api/v1/contacts/{contact.id}").json["data"]]
    assert inbox[1]["metadata"] == {"order": 42} and contacts[0]["sms_opted_out"] is True
