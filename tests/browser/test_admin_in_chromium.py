"""An admin signs in to /admin in a real browser and saves Twilio settings; staff are turned away."""

import pytest

from app.extensions import db
from app.services import accounts
from tests.browser.conftest import screenshot

AUTH_TOKEN = "e2e-very-secret-auth-token"
ACCOUNT_SID = "AC" + "fedcba9876543210" * 2


@pytest.fixture(scope="module")
def people(live_server):
    with live_server.app.app_context():
        tenant = accounts.create_tenant("Admin Test Shop")
        accounts.create_user(tenant, email="boss@shop.test", name="Bo Boss", role="admin", password="pw-123456")
        accounts.create_user(tenant, email="sam@shop.test", name="Sam Staff", role="staff", password="pw-123456")
        db.session.remove()


def sign_in(page, live_server, email):
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password").fill("pw-123456")
    page.get_by_role("button", name="Sign in").click()


def test_an_admin_saves_twilio_settings_and_the_secret_is_not_in_the_page(browser, live_server, people):
    page = browser.new_page()
    sign_in(page, live_server, "boss@shop.test")
    page.get_by_role("heading", name="Messaging provider").wait_for()

    page.get_by_label("Provider", exact=True).select_option("twilio")
    page.get_by_role("textbox", name="Account SID").fill(ACCOUNT_SID)
    page.get_by_role("textbox", name="Auth token").fill(AUTH_TOKEN)
    page.get_by_label("Phone number", exact=True).fill("+1 555 010 2000")
    page.get_by_role("button", name="Save", exact=True).click()

    page.get_by_text("Messaging settings saved.").wait_for()
    html = page.content()
    assert AUTH_TOKEN not in html and ACCOUNT_SID not in html
    assert page.locator("#twilio_auth_token_state").inner_text() == "(set)"
    assert page.get_by_role("textbox", name="Auth token").input_value() == ""
    assert page.locator("#webhook-twilio").inner_text().endswith("/webhooks/twilio")
    screenshot(page, "admin-1-twilio-saved")

    page.get_by_role("link", name="Web chat").click()
    page.get_by_role("button", name="Copy snippet").wait_for()
    assert "data-key=" in page.locator("#snippet").input_value()
    screenshot(page, "admin-2-widget")
    page.close()


def test_a_staff_member_gets_403(browser, live_server, people):
    page = browser.new_page()
    sign_in(page, live_server, "sam@shop.test")

    response = page.goto(f"{live_server.url}/admin/")

    assert response.status == 403
    assert page.get_by_role("heading", name="Admins only").is_visible()
    screenshot(page, "admin-3-staff-403")
    page.close()
