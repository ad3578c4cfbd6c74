"""A visitor chats on the demo site; staff answer through the API; both sides see it live."""

import time

import pytest

from app.extensions import db
from app.services import accounts
from tests.browser.conftest import screenshot


@pytest.fixture
def account(live_server):
    with live_server.app.app_context():
        tenant = accounts.create_tenant("Demo Barbershop")
        staff = accounts.create_user(
            tenant, email="sam@demo.test", name="Sam Staff", role="staff", password="pw-123456"
        )
        token = accounts.issue_token(staff, "e2e")
        key = tenant.widget_key
        db.session.remove()
    return {"key": key, "token": token}


def test_a_visitor_and_staff_chat_live_and_the_history_survives_a_reload(browser, live_server, account):
    page = browser.new_page(viewport={"width": 390, "height": 760})  # a phone-sized screen
    page.goto(f"{live_server.url}/widget/demo?key={account['key']}")

    page.get_by_role("button", name="Open chat").click()
    page.get_by_label("Your name (optional)").fill("Alex")
    page.get_by_role("button", name="Start chat").click()
    page.get_by_label("Your message").fill("Do you take walk-ins? <b>today</b>")
    page.keyboard.press("Enter")
    page.locator("li.mine .meta", has_text="Delivered").wait_for(timeout=5000)
    screenshot(page, "widget-1-visitor-wrote")

    # The message is in the staff inbox, unread, as text.
    inbox = live_server.call("GET", "/api/v1/conversations?channel=web", account["token"])["data"]
    assert [(c["visitor_name"], c["unread_count"], c["last_message"]["body"]) for c in inbox] == [
        ("Alex", 1, "Do you take walk-ins? <b>today</b>")
    ]
    conversation_id = inbox[0]["id"]
    assert page.locator("li.mine .bubble").inner_text() == "Do you take walk-ins? <b>today</b>"  # shown as text

    # Staff typing shows dots; the reply appears without a reload.
    live_server.call("POST", f"/api/v1/conversations/{conversation_id}/typing", account["token"])
    page.get_by_text("Sam Staff is typing").wait_for(timeout=2000)
    screenshot(page, "widget-2-staff-typing")
    sent_at = time.monotonic()
    live_server.call(
        "POST", f"/api/v1/conversations/{conversation_id}/messages", account["token"], {"message": "Yes, come by!"}
    )
    page.locator("li.theirs .bubble", has_text="Yes, come by!").wait_for(timeout=2000)
    seen_after = time.monotonic() - sent_at
    assert seen_after < 1.0, f"the reply took {seen_after:.2f}s to appear"
    assert page.locator("li.theirs", has_text="Yes, come by!").locator(".meta").inner_text() == "Sam Staff"
    live_server.call("POST", f"/api/v1/conversations/{conversation_id}/read", account["token"])
    page.locator("li.mine .meta", has_text="Read").wait_for(timeout=2000)
    screenshot(page, "widget-3-staff-replied")

    # After a reload the history is back (the token is kept in localStorage).
    page.reload()
    page.get_by_role("button", name="Open chat").click()
    page.locator("li.theirs .bubble", has_text="Yes, come by!").wait_for(timeout=5000)
    bodies = page.locator("li[data-message-id] .bubble").all_inner_texts()
    assert bodies == ["Do you take walk-ins? <b>today</b>", "Yes, come by!"]
    screenshot(page, "widget-4-after-reload")
    page.close()


def test_when_the_stream_is_unavailable_the_widget_falls_back_to_polling(browser, live_server, account):
    page = browser.new_page()
    page.route("**/events", lambda route: route.abort())  # a proxy that drops event streams
    page.goto(f"{live_server.url}/widget/demo?key={account['key']}")
    page.get_by_role("button", name="Open chat").click()
    page.get_by_role("button", name="Start chat").click()
    page.get_by_label("Your message").fill("Anyone there?")
    page.keyboard.press("Enter")
    page.locator("li.mine .meta", has_text="Delivered").wait_for(timeout=5000)
    inbox = live_server.call("GET", "/api/v1/conversations?channel=web&limit=1", account["token"])["data"]

    live_server.call(
        "POST", f"/api/v1/conversations/{inbox[0]['id']}/messages", account["token"], {"message": "Polling works"}
    )

    page.locator("li.theirs .bubble", has_text="Polling works").wait_for(timeout=8000)
    screenshot(page, "widget-5-polling-fallback")
    page.close()


def test_the_widget_is_usable_with_the_keyboard_alone(browser, live_server, account):
    page = browser.new_page()
    page.goto(f"{live_server.url}/widget/demo?key={account['key']}")
    launcher = page.get_by_role("button", name="Open chat")
    launcher.wait_for()

    launcher.focus()
    page.keyboard.press("Enter")
    assert page.get_by_role("dialog").is_visible()
    # Focus moved into the widget's panel (its first field), inside the widget's shadow root.
    page.wait_for_function(
        "document.activeElement.id === 'conversations-widget' && "
        "['INPUT', 'TEXTAREA'].includes(document.activeElement.shadowRoot.activeElement.tagName)",
        timeout=2000,
    )
    page.keyboard.press("Escape")

    assert not page.get_by_role("dialog").is_visible()
    assert page.evaluate("document.activeElement.shadowRoot.activeElement.getAttribute('aria-label')") == "Open chat"
    page.close()
