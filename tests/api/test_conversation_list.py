"""GET /api/v1/conversations: the inbox, its filters, its search and its pages."""

from datetime import timedelta

import pytest

from app.models.base import utcnow
from app.services import queries
from tests import factories
from tests.api.helpers import error_of


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json
    return [row["id"] for row in response.json["data"]]


def test_conversations_come_newest_activity_first(api, tenant):
    now = utcnow()
    old = factories.make_conversation(tenant=tenant, channel="web", last_message_at=now - timedelta(days=2))
    new = factories.make_conversation(tenant=tenant, channel="web", last_message_at=now)
    middle = factories.make_conversation(tenant=tenant, channel="web", last_message_at=now - timedelta(days=1))

    assert ids(api.get("/api/v1/conversations")) == [new.id, middle.id, old.id]


def test_a_new_message_moves_its_conversation_to_the_top(api, tenant):
    quiet = factories.make_conversation(tenant=tenant, channel="web", last_message_at=utcnow() - timedelta(hours=1))
    busy = factories.make_conversation(tenant=tenant, channel="web")
    api.post(f"/api/v1/conversations/{quiet.id}/messages", json={"message": "Back again"})

    assert ids(api.get("/api/v1/conversations")) == [quiet.id, busy.id]


def test_each_conversation_carries_its_contact_unread_count_and_last_message(api, tenant, john):
    conversation = factories.make_conversation(tenant=tenant, contact=john)
    factories.make_message(conversation=conversation, body="first", read=True)
    factories.make_message(conversation=conversation, body="second")
    factories.make_message(conversation=conversation, body="third")
    factories.make_message(conversation=conversation, direction="outbound", body="On my way")

    [row] = api.get("/api/v1/conversations").json["data"]

    assert row["unread_count"] == 2
    assert row["last_message"]["body"] == "On my way"
    assert row["last_message"]["direction"] == "outbound"
    assert row["contact"] == {
        "id": john.id,
        "first_name": "John",
        "last_name": "Doe",
        "phone": "+15551234567",
        "email": None,
    }


def test_the_last_message_preview_is_cut_to_160_characters(api, tenant):
    conversation = factories.make_conversation(tenant=tenant, channel="web")
    factories.make_message(conversation=conversation, body="x" * 500)

    [row] = api.get("/api/v1/conversations").json["data"]

    assert row["last_message"]["body"] == "x" * 160


def test_a_conversation_without_messages_has_no_preview_and_nothing_unread(api, tenant):
    factories.make_conversation(tenant=tenant, channel="web")

    [row] = api.get("/api/v1/conversations").json["data"]

    assert row["last_message"] is None
    assert row["unread_count"] == 0


@pytest.mark.parametrize("channel", ["sms", "web", "whatsapp"])
def test_conversations_filter_by_channel(api, tenant, channel):
    by_channel = {name: factories.make_conversation(tenant=tenant, channel=name) for name in ("sms", "web", "whatsapp")}

    assert ids(api.get(f"/api/v1/conversations?channel={channel}")) == [by_channel[channel].id]


def test_conversations_filter_by_status(api, tenant):
    factories.make_conversation(tenant=tenant, channel="web", status="open")
    closed = factories.make_conversation(tenant=tenant, channel="web", status="closed")
    archived = factories.make_conversation(tenant=tenant, channel="web", status="archived")

    assert ids(api.get("/api/v1/conversations?status=closed")) == [closed.id]
    assert ids(api.get("/api/v1/conversations?status=archived")) == [archived.id]


def test_conversations_filter_by_contact(api, tenant, john):
    johns = factories.make_conversation(tenant=tenant, contact=john)
    factories.make_conversation(tenant=tenant, contact=factories.make_contact(tenant=tenant, phone="+15550000001"))

    assert ids(api.get(f"/api/v1/conversations?contact_id={john.id}")) == [johns.id]


def test_conversations_filter_by_assignee(api, tenant, admin, staff):
    mine = factories.make_conversation(tenant=tenant, channel="web", assigned_to=admin.id)
    factories.make_conversation(tenant=tenant, channel="web", assigned_to=staff.id)
    factories.make_conversation(tenant=tenant, channel="web")

    assert ids(api.get(f"/api/v1/conversations?assigned_to={admin.id}")) == [mine.id]


def test_filters_combine(api, tenant, admin):
    wanted = factories.make_conversation(tenant=tenant, channel="web", status="open", assigned_to=admin.id)
    factories.make_conversation(tenant=tenant, channel="web", status="closed", assigned_to=admin.id)
    factories.make_conversation(tenant=tenant, channel="sms", status="open", assigned_to=admin.id)

    assert ids(api.get(f"/api/v1/conversations?channel=web&status=open&assigned_to={admin.id}")) == [wanted.id]


@pytest.fixture
def searchable(tenant, john):
    """John Doe on SMS, Jane Roe (by email) on SMS, and an anonymous web visitor."""
    jane = factories.make_contact(
        tenant=tenant, first_name="Jane", last_name="Roe", phone="+15559876543", email="jane.roe@example.com"
    )
    return {
        "john": factories.make_conversation(tenant=tenant, contact=john),
        "jane": factories.make_conversation(tenant=tenant, contact=jane),
        "visitor": factories.make_conversation(
            tenant=tenant, channel="web", visitor_name="Wanda Visitor", visitor_email="wanda@visitors.test"
        ),
    }


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("john", "john"),
        ("DOE", "john"),
        ("John Doe", "john"),
        ("(555) 123-4567", "john"),
        ("5551234567", "john"),
        ("+15551234567", "john"),
        ("123-4567", "john"),
        ("jane.roe@example", "jane"),
        ("Wanda", "visitor"),
        ("wanda@visitors", "visitor"),
    ],
)
def test_search_finds_a_conversation_by_name_phone_or_email(api, searchable, search, expected):
    response = api.get("/api/v1/conversations", query_string={"search": search})

    assert ids(response) == [searchable[expected].id]


@pytest.mark.parametrize("search", ["%' OR 1=1 --", "%", "_", "\\", "'; DROP TABLE conversations; --"])
def test_search_takes_wildcards_and_quotes_literally(api, searchable, search):
    response = api.get("/api/v1/conversations", query_string={"search": search})

    assert response.status_code == 200
    assert response.json["data"] == []
    assert response.json["meta"]["total"] == 0
    assert api.get("/api/v1/conversations").json["meta"]["total"] == 3


def test_a_search_pages_through_every_match_with_its_exact_total(api, tenant):
    start = utcnow() - timedelta(hours=1)
    matches = []
    for n in range(7):
        smith = factories.make_contact(tenant=tenant, last_name=f"Smith {n}", phone=f"+1555300{n:04d}")
        matches.append(
            factories.make_conversation(tenant=tenant, contact=smith, last_message_at=start + timedelta(minutes=n))
        )
    factories.make_conversation(tenant=tenant, channel="web", visitor_name="Wanda Smithers")  # matches too
    factories.make_conversation(tenant=tenant, channel="web", visitor_name="Someone Else")

    pages = [
        api.get("/api/v1/conversations", query_string={"search": "smith", "limit": 3, "offset": offset}).json
        for offset in (0, 3, 6, 9)
    ]

    assert [page["meta"]["total"] for page in pages] == [8, 8, 8, 8]
    found = [conversation["id"] for page in pages for conversation in page["data"]]
    assert len(found) == len(set(found)) == 8
    assert found[1:] == [c.id for c in reversed(matches)]  # the visitor's is the newest activity
    assert pages[3]["data"] == []


def test_the_default_page_is_fifty(api, tenant):
    for _ in range(55):
        factories.make_conversation(tenant=tenant, channel="web")

    response = api.get("/api/v1/conversations")

    assert len(response.json["data"]) == 50
    assert response.json["meta"] == {
        "total": 55,
        "limit": 50,
        "offset": 0,
        "next_before": f"{response.json['meta']['next_before'].split('_')[0]}_{response.json['data'][-1]['id']}",
    }


def test_a_limit_above_two_hundred_is_capped(api, tenant):
    for _ in range(3):
        factories.make_conversation(tenant=tenant, channel="web")

    response = api.get("/api/v1/conversations?limit=1000")

    assert response.status_code == 200
    assert response.json["meta"] == {"total": 3, "limit": 200, "offset": 0, "next_before": None}


def test_limit_and_offset_walk_through_the_pages_without_gaps_or_repeats(api, tenant):
    now = utcnow()
    made = [
        factories.make_conversation(tenant=tenant, channel="web", last_message_at=now - timedelta(minutes=i))
        for i in range(5)
    ]

    pages = [ids(api.get(f"/api/v1/conversations?limit=2&offset={offset}")) for offset in (0, 2, 4)]

    assert pages == [[made[0].id, made[1].id], [made[2].id, made[3].id], [made[4].id]]


def walk_with_cursor(api, cursor: str | None = None) -> list[list[int]]:
    """Pages of two, following meta.next_before from `cursor` (or the top) to the end."""
    pages = []
    for _ in range(10):
        response = api.get("/api/v1/conversations?limit=2" + (f"&before={cursor}" if cursor else ""))
        pages.append(ids(response))
        cursor = response.json["meta"]["next_before"]
        if cursor is None:
            return pages
    raise AssertionError(f"the cursor never ended: {pages}")


def test_the_before_cursor_walks_through_the_pages_without_gaps_or_repeats(api, tenant):
    now = utcnow()
    made = [
        factories.make_conversation(tenant=tenant, channel="web", last_message_at=now - timedelta(minutes=i // 2))
        for i in range(5)  # pairs share a time: the id orders them
    ]
    expected = sorted(made, key=lambda c: (c.last_message_at, c.id), reverse=True)

    pages = walk_with_cursor(api)

    assert pages == [[expected[0].id, expected[1].id], [expected[2].id, expected[3].id], [expected[4].id]]


def test_a_message_arriving_while_scrolling_moves_its_conversation_up_without_repeating_or_skipping_others(api, tenant):
    now = utcnow()
    made = [
        factories.make_conversation(tenant=tenant, channel="web", last_message_at=now - timedelta(minutes=i + 1))
        for i in range(6)
    ]
    first = api.get("/api/v1/conversations?limit=2")
    api.post(f"/api/v1/conversations/{made[4].id}/messages", json={"message": "Still there?"})  # jumps to the top

    rest = walk_with_cursor(api, first.json["meta"]["next_before"])

    assert ids(first) == [made[0].id, made[1].id]
    assert sum(rest, []) == [made[2].id, made[3].id, made[5].id]


@pytest.mark.parametrize("cursor", ["abc", "12", "1_2_3", "-5_3", "9" * 19 + "_1", " 1_2"])
def test_a_cursor_that_did_not_come_from_a_page_is_a_422(api, tenant, cursor):
    response = api.get("/api/v1/conversations", query_string={"before": cursor})

    assert response.status_code == 422
    assert "before" in error_of(response)["fields"]


def test_the_total_of_a_long_list_is_counted_only_a_bounded_way_past_the_page(api, tenant, monkeypatch):
    monkeypatch.setattr(queries, "COUNT_AHEAD", 3)
    for _ in range(12):
        factories.make_conversation(tenant=tenant, channel="web")

    first = api.get("/api/v1/conversations?limit=2").json["meta"]
    deeper = api.get("/api/v1/conversations?limit=2&offset=4").json["meta"]
    last = api.get("/api/v1/conversations?limit=2&offset=10").json["meta"]

    assert first["total"] == 2 + 3  # a lower bound, still past the page
    assert deeper["total"] == 4 + 2 + 3
    assert last["total"] == 12  # the end is in sight: exact


def test_an_offset_beyond_the_end_gives_an_empty_page_with_the_real_total(api, tenant):
    for _ in range(3):
        factories.make_conversation(tenant=tenant, channel="web")

    response = api.get("/api/v1/conversations?offset=10")

    assert response.status_code == 200
    assert response.json == {"data": [], "meta": {"total": 3, "limit": 50, "offset": 10, "next_before": None}}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("channel=fax", "channel"),
        ("status=deleted", "status"),
        ("contact_id=abc", "contact_id"),
        ("chanel=sms", "chanel"),
    ],
)
def test_a_bad_query_parameter_is_a_422_naming_the_field(api, query, field):
    response = api.get(f"/api/v1/conversations?{query}")

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert field in error["fields"]


def test_another_tenants_conversations_are_not_listed(api, tenant, other_tenant):
    factories.make_conversation(tenant=other_tenant, channel="web")
    mine = factories.make_conversation(tenant=tenant, channel="web")

    assert ids(api.get("/api/v1/conversations")) == [mine.id]
