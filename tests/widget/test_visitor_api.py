"""The widget's public API, as a website visitor's browser uses it."""

import hashlib

import pytest

from app.extensions import db
from app.models import Conversation
from tests.api.helpers import error_of
from tests.widget.conftest import ORIGIN, Visitor


def test_a_visitor_starts_a_conversation_and_gets_a_token_that_is_stored_only_as_its_digest(visitor):
    response = visitor.start(name="Alex", email="alex@example.com")

    assert response.status_code == 201
    data = response.json["data"]
    assert data["conversation"]["visitor_name"] == "Alex"
    token = data["visitor_token"]
    stored = db.session.get(Conversation, data["conversation"]["id"])
    assert stored.channel == "web"
    assert stored.visitor_token == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored.visitor_token)


def test_a_visitor_message_lands_in_the_staff_inbox_unread_and_the_staff_reply_reaches_the_visitor(visitor, api):
    visitor.start(name="Alex")

    sent = visitor.say("Do you open on Sundays?")

    assert sent.status_code == 201
    inbox = api.get("/api/v1/conversations?channel=web").json["data"]
    assert [(row["id"], row["unread_count"], row["last_message"]["body"]) for row in inbox] == [
        (visitor.conversation_id, 1, "Do you open on Sundays?")
    ]
    assert api.get("/api/v1/conversations/unread").json["data"]["by_channel"]["web"] == 1
    reply = api.post(f"/api/v1/conversations/{visitor.conversation_id}/messages", json={"message": "Yes, 10-4."})
    assert reply.status_code == 201
    history = visitor.messages().json["data"]["messages"]
    assert [(m["body"], m["direction"], m["sender_type"], m["sender_name"]) for m in history] == [
        ("Do you open on Sundays?", "inbound", "visitor", None),
        ("Yes, 10-4.", "outbound", "staff", "A User"),
    ]


def test_the_after_cursor_returns_only_newer_messages_and_read_up_to_follows_staff_reading(visitor, api):
    visitor.start()
    first = visitor.say("one").json["data"]["id"]
    second = visitor.say("two").json["data"]["id"]

    assert [m["body"] for m in visitor.messages(after=first).json["data"]["messages"]] == ["two"]
    assert visitor.messages(after=second).json["data"]["messages"] == []
    assert visitor.messages().json["data"]["read_up_to"] is None
    api.post(f"/api/v1/conversations/{visitor.conversation_id}/read")
    assert visitor.messages().json["data"]["read_up_to"] == second


def test_html_in_a_message_is_stored_and_served_exactly_as_sent(visitor, api):
    visitor.start()
    text = '<img src=x onerror="alert(1)"><b>hi</b> & <script>alert(2)</script>'

    visitor.say(text)

    response = visitor.messages()
    assert response.mimetype == "application/json"
    assert response.json["data"]["messages"][0]["body"] == text
    staff_view = api.get(f"/api/v1/conversations/{visitor.conversation_id}/messages").json["data"]
    assert staff_view[0]["body"] == text


def test_without_a_token_the_visitor_api_answers_401(visitor):
    visitor.start()

    response = visitor.client.get(visitor.conversation_url("/messages"), headers={"Origin": ORIGIN})

    assert response.status_code == 401
    assert error_of(response)["code"] == "visitor_token_required"


def test_a_visitor_token_opens_its_own_conversation_and_no_other(client, widget_tenant):
    alex, blake = Visitor(client, widget_tenant.widget_key), Visitor(client, widget_tenant.widget_key)
    alex.start(name="Alex")
    blake.start(name="Blake")
    blake.say("private to Blake")

    reading = client.get(alex.conversation_url("/messages", blake.conversation_id), headers=alex.headers())
    writing = client.post(
        alex.conversation_url("/messages", blake.conversation_id), json={"message": "hi"}, headers=alex.headers()
    )

    assert reading.status_code == 404 and writing.status_code == 404
    assert error_of(reading)["code"] == "not_found"
    assert [m["body"] for m in blake.messages().json["data"]["messages"]] == ["private to Blake"]


def test_another_tenants_widget_key_does_not_open_the_conversation(client, widget_tenant, other_tenant):
    visitor = Visitor(client, widget_tenant.widget_key)
    visitor.start()
    other_tenant.widget_allowed_origins = [ORIGIN]
    db.session.commit()

    response = client.get(
        f"/widget/v1/{other_tenant.widget_key}/conversations/{visitor.conversation_id}/messages",
        headers=visitor.headers(),
    )

    assert response.status_code == 404


def test_an_unknown_widget_key_answers_404(client):
    response = client.get("/widget/v1/wk_nope/config")

    assert response.status_code == 404
    assert error_of(response)["code"] == "widget_not_found"


def test_a_staff_token_is_not_a_visitor_token(visitor, api):
    visitor.start()

    response = visitor.client.get(visitor.conversation_url("/messages"), headers=api.headers)

    assert response.status_code == 404


def test_rotating_the_token_retires_the_old_one_at_once(visitor):
    visitor.start()
    old = visitor.token

    response = visitor.client.post(visitor.conversation_url("/token"), headers=visitor.headers())

    new = response.json["data"]["visitor_token"]
    assert new != old
    assert visitor.client.get(visitor.conversation_url("/messages"), headers=visitor.headers(old)).status_code == 404
    assert visitor.client.get(visitor.conversation_url("/messages"), headers=visitor.headers(new)).status_code == 200


def test_an_allowed_origin_is_answered_with_cors_headers_and_its_preflight_succeeds(visitor):
    preflight = visitor.client.options(
        visitor.url("/conversations"),
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    started = visitor.start()

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    assert started.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in started.headers.get_all("Vary")


def test_a_website_the_tenant_did_not_list_is_refused_and_given_no_cors_headers(client, widget_tenant):
    stranger = Visitor(client, widget_tenant.widget_key, origin="https://evil.example")

    preflight = client.options(
        stranger.url("/conversations"),
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    response = stranger.start()

    assert preflight.status_code == 403 and response.status_code == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Origin" not in response.headers
    assert error_of(response)["code"] == "origin_not_allowed"
    assert db.session.query(Conversation).filter_by(tenant_id=widget_tenant.id).count() == 0


def test_the_pre_chat_fields_the_tenant_requires_must_be_given(visitor, widget_tenant):
    widget_tenant.widget_prechat_fields = {"name": "required", "email": "required", "phone": "off"}
    db.session.commit()

    missing = visitor.start(name="Alex")
    bad_email = visitor.start(name="Alex", email="not-an-email")
    ok = visitor.start(name="Alex", email="alex@example.com", phone="+15550001111")

    assert missing.status_code == 422 and error_of(missing)["fields"] == {"email": ["Required."]}
    assert bad_email.status_code == 422
    assert ok.status_code == 201
    assert ok.json["data"]["conversation"]["visitor_phone"] is None  # the tenant does not ask for it


@pytest.mark.parametrize("text, status", [("x" * 2000, 201), ("x" * 2001, 422), ("   ", 422), ("", 422)])
def test_message_size_is_bounded(visitor, text, status):
    visitor.start()

    assert visitor.say(text).status_code == status


def test_a_request_body_over_the_limit_answers_413_without_being_read(visitor):
    visitor.start()

    response = visitor.client.post(
        visitor.conversation_url("/messages"),
        data=b'{"message": "' + b"x" * 20_000 + b'"}',
        headers={**visitor.headers(), "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_messages_are_rate_limited_per_visitor_token(app, client, widget_tenant):
    app.config["WIDGET_MESSAGE_RATE_LIMIT"] = "3 per minute"
    try:
        chatty, quiet = Visitor(client, widget_tenant.widget_key), Visitor(client, widget_tenant.widget_key)
        chatty.start()
        quiet.start()

        statuses = [chatty.say(f"message {n}").status_code for n in range(4)]

        assert statuses == [201, 201, 201, 429]
        assert "Retry-After" in chatty.say("again").headers
        assert quiet.say("my first").status_code == 201  # same address, its own token: its own budget
    finally:
        app.config["WIDGET_MESSAGE_RATE_LIMIT"] = "20 per minute"


def test_starting_conversations_is_rate_limited_per_client_address(app, client, widget_tenant):
    app.config["WIDGET_START_RATE_LIMIT"] = "2 per minute"
    try:
        answers = [Visitor(client, widget_tenant.widget_key).start() for _ in range(3)]
        elsewhere = Visitor(client, widget_tenant.widget_key).start(environ_base={"REMOTE_ADDR": "10.9.9.9"})
    finally:
        app.config["WIDGET_START_RATE_LIMIT"] = "10 per minute"

    assert [answer.status_code for answer in answers] == [201, 201, 429]
    assert error_of(answers[-1])["code"] == "rate_limited"
    assert elsewhere.status_code == 201


def test_every_widget_call_counts_against_the_client_address(app, client, widget_tenant):
    app.config["WIDGET_ADDRESS_RATE_LIMIT"] = "5 per minute"
    try:
        statuses = [client.get(f"/widget/v1/{widget_tenant.widget_key}/config").status_code for _ in range(6)]
    finally:
        app.config["WIDGET_ADDRESS_RATE_LIMIT"] = "300 per minute"

    assert statuses == [200] * 5 + [429]


def test_the_public_config_carries_the_greeting_colour_and_pre_chat_fields_only(client, widget_tenant):
    widget_tenant.widget_greeting = "Hello from Acme"
    widget_tenant.widget_color = "#ff0000"
    db.session.commit()

    data = client.get(f"/widget/v1/{widget_tenant.widget_key}/config").json["data"]

    assert data == {
        "name": "Acme",
        "greeting": "Hello from Acme",
        "color": "#ff0000",
        "prechat_fields": {"name": "optional", "email": "optional", "phone": "off"},
    }


def test_the_widget_script_and_the_demo_page_are_served(client, widget_tenant):
    script = client.get("/widget.js")
    demo = client.get(f"/widget/demo?key={widget_tenant.widget_key}")

    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert b"innerHTML" not in script.data
    assert demo.status_code == 200
    assert f'data-key="{widget_tenant.widget_key}"'.encode() in demo.data


def test_the_address_limit_also_covers_routes_with_their_own_per_token_limit(app, client, widget_tenant):
    visitor = Visitor(client, widget_tenant.widget_key)
    visitor.start()
    app.config["WIDGET_ADDRESS_RATE_LIMIT"] = "3 per minute"
    try:
        statuses = [visitor.say(f"n{n}").status_code for n in range(4)]
    finally:
        app.config["WIDGET_ADDRESS_RATE_LIMIT"] = "300 per minute"

    assert statuses[-1] == 429
