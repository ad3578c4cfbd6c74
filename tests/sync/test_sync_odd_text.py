"""History imported from GHL is stored whatever bytes its text holds, as the webhooks are."""

from app.models import Message
from app.services import ghl_sync
from tests.sync.test_ghl_sync import fake_ghl, ghl_message, ghl_tenant  # noqa: F401  (fixtures)


def test_a_history_message_with_a_nul_is_imported_with_the_character_replaced(db, ghl_tenant, fake_ghl):  # noqa: F811
    fake_ghl.messages["c3"] = [ghl_message("m4", "Thanks\u0000 see you", minute=4)]

    state = ghl_sync.sync_tenant(ghl_tenant.id)

    assert (state["conversations"], state["messages"]) == (3, 4)
    body = db.session.query(Message.body).filter(Message.ghl_message_id == "m4").scalar()
    assert body == "Thanks\ufffd see you"
