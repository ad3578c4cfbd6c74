"""The GHL backfill: imports history once, in order, without lighting up badges, and resumes."""

import pytest
import responses
import sqlalchemy as sa

from app.models import Contact, Conversation, Message
from app.providers.base import HistoryPage, ProviderError
from app.providers.ghl import GhlProvider
from app.providers.ghl_payloads import history_conversation, history_message
from app.services import ghl_sync
from app.services.settings import update_messaging_settings
from tests import factories


class FakeGhl:
    """GHL's read API over an in-memory location: two pages of conversations, messages newest first."""

    def __init__(self, conversations: dict[str, dict], messages: dict[str, list[dict]], page_size: int = 2):
        self.conversations = list(conversations.values())
        self.messages = messages
        self.page_size = page_size
        self.search_calls = []
        self.fail_on_search_call: int | None = None

    name = "ghl"
    rate_budget = None

    def conversations_page(self, cursor):
        self.search_calls.append(cursor)
        if self.fail_on_search_call == len(self.search_calls):
            raise ProviderError("GHL unreachable", code="network", transient=True)
        start = cursor or 0
        page = self.conversations[start : start + self.page_size]
        next_cursor = start + self.page_size if start + self.page_size < len(self.conversations) else None
        return HistoryPage([history_conversation(row) for row in page], next_cursor)

    def messages_page(self, conversation, cursor, limit):
        newest_first = list(reversed(self.messages[conversation.provider_conversation_id]))
        return HistoryPage([history_message(message, conversation) for message in newest_first[:limit]])

    def get_contact(self, provider_contact_id):
        return None


def ghl_message(message_id, body, *, minute, direction="inbound", message_type="TYPE_SMS", **extra):
    return {
        "id": message_id,
        "body": body,
        "direction": direction,
        "messageType": message_type,
        "status": "delivered",
        "dateAdded": f"2026-11-20T10:{minute:02d}:00.000Z",
        **extra,
    }


@pytest.fixture
def ghl_tenant(db):
    tenant = factories.make_tenant(name="Salon")
    update_messaging_settings(tenant, {"sms_provider": "ghl", "ghl_api_key": "pit-test", "ghl_location_id": "loc-1"})
    return tenant


@pytest.fixture
def fake_ghl(use_provider):
    fake = FakeGhl(
        conversations={
            "c1": {"id": "c1", "contactId": "gc1", "fullName": "Ana Lima", "phone": "+15551230001"},
            "c2": {"id": "c2", "contactId": "gc2", "fullName": "Ben Okafor", "phone": "+15551230002"},
            "c3": {"id": "c3", "contactId": "gc3", "contactName": "Cy", "phone": "+15551230003"},
        },
        messages={
            "c1": [
                ghl_message("m1", "Do you open on Sunday?", minute=1),
                ghl_message("m2", "No, Monday to Saturday.", minute=2, direction="outbound"),
            ],
            "c2": [ghl_message("m3", "Call me back", minute=3, message_type="TYPE_CALL", callDuration=30)],
            "c3": [ghl_message("m4", "Thanks!", minute=4)],
        },
    )
    use_provider(fake)
    return fake


def test_sync_imports_every_conversation_with_its_contact_and_messages_in_order(ghl_tenant, fake_ghl, db):
    state = ghl_sync.sync_tenant(ghl_tenant.id)

    assert state["conversations"] == 3
    ana = db.session.scalar(sa.select(Contact).where(Contact.ghl_contact_id == "gc1"))
    assert (ana.first_name, ana.last_name, ana.phone) == ("Ana", "Lima", "+15551230001")
    conversation = db.session.scalar(sa.select(Conversation).where(Conversation.contact_id == ana.id))
    assert conversation.channel == "sms" and conversation.ghl_conversation_id == "c1"
    bodies = db.session.scalars(
        sa.select(Message.body).where(Message.conversation_id == conversation.id).order_by(Message.inserted_at)
    ).all()
    assert bodies == ["Do you open on Sunday?", "No, Monday to Saturday."]
    assert conversation.last_message.body == "No, Monday to Saturday."
    call = db.session.scalar(sa.select(Message).where(Message.ghl_message_id == "m3"))
    assert (call.channel, call.call_duration_seconds) == ("voice", 30)


def test_imported_history_is_already_read(ghl_tenant, fake_ghl, client):
    ghl_sync.sync_tenant(ghl_tenant.id)

    owner = factories.make_user(tenant=ghl_tenant, role="admin")
    api = factories.ApiClient(client, factories.make_token(user=owner))
    unread = api.get("/api/v1/conversations/unread").json["data"]
    assert unread["total"] == 0


def test_running_the_sync_twice_changes_nothing(ghl_tenant, fake_ghl, db):
    ghl_sync.sync_tenant(ghl_tenant.id)
    counts = (
        db.session.scalar(sa.select(sa.func.count(Message.id))),
        db.session.scalar(sa.select(sa.func.count(Contact.id))),
    )

    ghl_sync.sync_tenant(ghl_tenant.id)

    assert (
        db.session.scalar(sa.select(sa.func.count(Message.id))),
        db.session.scalar(sa.select(sa.func.count(Contact.id))),
    ) == counts


def test_an_interrupted_sync_resumes_after_the_last_finished_page(ghl_tenant, fake_ghl, db):
    fake_ghl.fail_on_search_call = 2
    with pytest.raises(ProviderError):
        ghl_sync.sync_tenant(ghl_tenant.id)
    assert ghl_tenant.ghl_sync_state["cursor"] == 2 and ghl_tenant.ghl_sync_state["conversations"] == 2

    fake_ghl.fail_on_search_call = None
    state = ghl_sync.sync_tenant(ghl_tenant.id)

    assert fake_ghl.search_calls[-1] == 2  # resumed at the second page, not from the start
    assert state["conversations"] == 3 and state["finished_at"]
    assert db.session.scalar(sa.select(sa.func.count(Conversation.id))) == 3


def test_only_a_ghl_tenant_can_be_synced(db):
    tenant = factories.make_tenant(name="Standalone")
    with pytest.raises(ghl_sync.NotAGhlTenant):
        ghl_sync.sync_tenant(tenant.id)


@responses.activate
def test_the_adapter_pages_conversations_and_reads_nested_or_flat_message_pages():
    provider = GhlProvider(api_key="pit-x", location_id="loc-1", api_base_url="http://ghl.fake")
    responses.get(
        "http://ghl.fake/conversations/search",
        json={
            "conversations": [
                {"id": "c1", "sort": [1700000000000], "contactId": "gc1", "fullName": "Ana Lima"},
                {"id": "c2", "sort": [1690000000000], "contactId": "gc2"},
            ],
            "total": 9,
        },
    )
    responses.get(
        "http://ghl.fake/conversations/c1/messages",
        json={"messages": {"messages": [sms("m2"), sms("m1")], "nextPage": True, "lastMessageId": "m1"}},
    )
    responses.get("http://ghl.fake/conversations/c2/messages", json={"messages": [sms("m9")], "nextPage": False})

    page = provider.conversations_page(None, limit=2)
    c1, c2 = page.items
    nested = provider.messages_page(c1, None, 2)
    flat = provider.messages_page(c2, None, 2)

    search = responses.calls[0].request
    assert "locationId=loc-1" in search.url and "limit=2" in search.url and search.headers["Version"] == "2021-04-15"
    assert [c.provider_conversation_id for c in page.items] == ["c1", "c2"] and page.next_cursor == 1690000000000
    assert (c1.contact.provider_contact_id, c1.contact.first_name, c1.contact.last_name) == ("gc1", "Ana", "Lima")
    assert [m.ids.message for m in nested.items] == ["m2", "m1"] and nested.next_cursor == "m1"
    assert [(m.ids.message, m.ids.contact, m.ids.conversation) for m in flat.items] == [("m9", "gc2", "c2")]
    assert flat.next_cursor is None


def sms(message_id: str) -> dict:
    return {"id": message_id, "messageType": "TYPE_SMS", "body": "hi", "direction": "inbound"}


@responses.activate
def test_the_adapter_looks_a_contact_up_by_id():
    provider = GhlProvider(api_key="pit-x", location_id="loc-1", api_base_url="http://ghl.fake")
    responses.get("http://ghl.fake/contacts/gc1", json={"contact": {"id": "gc1", "phone": "+15551230001"}})

    assert provider.get_contact("gc1").phone == "+15551230001"
    assert responses.calls[0].request.headers["Version"] == "2021-07-28"
