"""scripts/serve.sh runs on SQLite: a send goes all the way there too (claimed, sent, reported)."""

from app.extensions import db
from app.models import Message
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
