"""/admin: signing in with a session cookie, CSRF, and what admins (and only admins) can change there."""

import re

import pytest

from app import create_app
from app.extensions import db
from app.models import User
from config import TestConfig
from tests import factories
from tests.services import celery_left_as_it_was

PASSWORD = "pw-123456"


def csrf_of(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def sign_in(client, user) -> str:
    """Sign in through the form; returns the CSRF token of the session."""
    token = csrf_of(client.get("/admin/login"))
    response = client.post("/admin/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_of(client.get("/admin/"))


@pytest.fixture
def signed_in(client, admin):
    return sign_in(client, admin)


def test_without_a_session_admin_pages_send_you_to_sign_in(client):
    response = client.get("/admin/widget")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=/admin/widget")


def test_a_wrong_password_does_not_sign_in(client, admin):
    token = csrf_of(client.get("/admin/login"))

    response = client.post("/admin/login", data={"email": admin.email, "password": "nope", "csrf_token": token})

    assert response.status_code == 401
    assert "Email or password is wrong." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_a_form_without_the_sessions_csrf_token_is_refused(client, admin, signed_in, tenant):
    response = client.post("/admin/messaging", data={"sms_provider": "simulator", "csrf_token": "forged"})
    missing = client.post("/admin/messaging", data={"sms_provider": "simulator"})

    assert response.status_code == 400 and missing.status_code == 400
    db.session.refresh(tenant)
    assert tenant.sms_provider is None


def test_signing_in_needs_the_csrf_token_too(client, admin):
    response = client.post("/admin/login", data={"email": admin.email, "password": PASSWORD})

    assert response.status_code == 400


def test_an_admin_saves_twilio_settings_and_the_secrets_never_come_back(client, signed_in, tenant):
    secret_token = "s3cr3t-auth-token-value"
    account_sid = "AC" + "0123456789abcdef" * 2

    response = client.post(
        "/admin/messaging",
        data={
            "csrf_token": signed_in,
            "sms_provider": "twilio",
            "twilio_account_sid": account_sid,
            "twilio_auth_token": secret_token,
            "twilio_phone_number": "(555) 123-4567",
        },
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Messaging settings saved." in page
    assert secret_token not in page and account_sid not in page
    assert page.count("(set)") == 2
    assert "https://api.example.test/webhooks/twilio" in page
    db.session.refresh(tenant)
    assert (tenant.sms_provider, tenant.twilio_phone_number) == ("twilio", "+15551234567")
    assert secret_token not in tenant.twilio_auth_token_encrypted


def test_an_incomplete_provider_setup_is_explained_and_nothing_is_saved(client, signed_in, tenant):
    response = client.post("/admin/messaging", data={"csrf_token": signed_in, "sms_provider": "twilio"})

    assert response.status_code == 422
    assert "twilio_auth_token" in response.get_data(as_text=True)
    db.session.refresh(tenant)
    assert tenant.sms_provider is None


def test_test_connection_reports_a_standalone_account(client, signed_in):
    response = client.post("/admin/messaging/test", data={"csrf_token": signed_in}, follow_redirects=True)

    assert "No provider chosen" in response.get_data(as_text=True)


def test_staff_who_are_not_admins_get_403(client, staff):
    sign_in_page = client.get("/admin/login")
    client.post("/admin/login", data={"email": staff.email, "password": PASSWORD, "csrf_token": csrf_of(sign_in_page)})

    for path in ("/admin/", "/admin/widget", "/admin/users"):
        assert client.get(path).status_code == 403


def test_the_widget_page_saves_origins_pre_chat_greeting_and_colour_and_shows_the_snippet(client, signed_in, tenant):
    response = client.post(
        "/admin/widget",
        data={
            "csrf_token": signed_in,
            "allowed_origins": "https://Shop.example/\nhttp://localhost:8000",
            "prechat_name": "required",
            "prechat_email": "optional",
            "prechat_phone": "off",
            "greeting": "Hi <there>",
            "color": "#FF0000",
        },
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    db.session.refresh(tenant)
    assert tenant.widget_allowed_origins == ["https://shop.example", "http://localhost:8000"]
    assert tenant.widget_prechat_fields == {"name": "required", "email": "optional", "phone": "off"}
    assert (tenant.widget_greeting, tenant.widget_color) == ("Hi <there>", "#ff0000")
    assert "Hi &lt;there&gt;" in page  # escaped by the template
    assert f"data-key=&#34;{tenant.widget_key}&#34;" in page or f'data-key="{tenant.widget_key}"' in page


def test_a_bad_origin_is_refused(client, signed_in, tenant):
    response = client.post(
        "/admin/widget",
        data={"csrf_token": signed_in, "allowed_origins": "javascript:alert(1)", "color": "#ffffff"},
    )

    assert response.status_code == 422
    db.session.refresh(tenant)
    assert tenant.widget_allowed_origins is None


def test_rotating_the_widget_key_replaces_it(client, signed_in, tenant):
    before = tenant.widget_key

    client.post("/admin/widget/rotate-key", data={"csrf_token": signed_in})

    db.session.refresh(tenant)
    assert tenant.widget_key != before
    assert client.get(f"/widget/v1/{before}/config").status_code == 404


def test_an_admin_invites_staff_makes_them_admin_and_removes_them(client, signed_in, tenant):
    invited = client.post(
        "/admin/users", data={"csrf_token": signed_in, "name": "Nina New", "email": "nina@acme.test", "role": "staff"}
    )
    password = re.search(r'id="invite-password">([^<]+)<', invited.get_data(as_text=True)).group(1)
    nina = db.session.query(User).filter_by(tenant_id=tenant.id, email="nina@acme.test").one()
    assert nina.role == "staff" and nina.check_password(password)
    assert password not in client.get("/admin/users").get_data(as_text=True)  # shown once

    client.post(f"/admin/users/{nina.id}/role", data={"csrf_token": signed_in, "role": "admin"})
    db.session.refresh(nina)
    assert nina.role == "admin"

    client.post(f"/admin/users/{nina.id}/remove", data={"csrf_token": signed_in})
    assert db.session.query(User).filter_by(email="nina@acme.test").count() == 0


def test_the_last_admin_cannot_be_demoted_or_remove_themselves(client, signed_in, admin):
    demoted = client.post(f"/admin/users/{admin.id}/role", data={"csrf_token": signed_in, "role": "staff"})
    removed = client.post(f"/admin/users/{admin.id}/remove", data={"csrf_token": signed_in})

    assert demoted.status_code == 409 and removed.status_code == 409
    db.session.refresh(admin)
    assert admin.role == "admin"


def test_another_tenants_user_cannot_be_touched(client, signed_in):
    other = factories.make_tenant(name="Globex")
    outsider = factories.make_user(tenant=other, role="staff", email="x@globex.test")

    response = client.post(f"/admin/users/{outsider.id}/remove", data={"csrf_token": signed_in})

    assert response.status_code == 404
    assert db.session.get(User, outsider.id) is not None


def test_a_removed_user_is_signed_out(client, signed_in, tenant):
    second = factories.make_user(tenant=tenant, role="admin", email="second@acme.test")
    other_client = client.application.test_client()
    sign_in(other_client, second)

    client.post(f"/admin/users/{second.id}/remove", data={"csrf_token": signed_in})

    assert other_client.get("/admin/").status_code == 302


def test_outside_development_the_session_cookie_is_secure_http_only_and_same_site():
    class Production(TestConfig):
        SESSION_COOKIE_SECURE = True

    with celery_left_as_it_was():
        production = create_app(Production())
    response = production.test_client().get("/admin/login", base_url="https://api.example.test")

    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_an_email_in_two_accounts_signs_in_with_the_account_number(client, admin, tenant):
    other = factories.make_tenant(name="Globex")
    factories.make_user(tenant=other, role="admin", email=admin.email)
    token = csrf_of(client.get("/admin/login"))

    ambiguous = client.post("/admin/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token})
    chosen = client.post(
        "/admin/login",
        data={"email": admin.email, "password": PASSWORD, "tenant_id": str(tenant.id), "csrf_token": token},
    )

    assert ambiguous.status_code == 422
    assert "more than one account" in ambiguous.get_data(as_text=True)
    assert chosen.status_code == 302
    assert "Acme" in client.get("/admin/").get_data(as_text=True)
