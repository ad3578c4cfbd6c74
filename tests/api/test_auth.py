"""Bearer tokens and signing in: who may call the API, and how a token is kept."""

import hashlib

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiToken
from tests import factories
from tests.api.helpers import error_of


def token_row(token: str) -> ApiToken:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest())
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer cv_not-a-real-token"},
        {"Authorization": "Basic YWRtaW46cGFzc3dvcmQ="},
    ],
    ids=["missing", "empty", "garbage", "unknown", "basic-auth"],
)
def test_a_request_without_a_valid_bearer_token_is_refused_with_the_json_envelope(client, admin, headers):
    response = client.get("/api/v1/conversations", headers=headers)

    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_every_authenticated_endpoint_refuses_a_missing_token(client):
    for method, path in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/contacts"),
        ("GET", "/api/v1/conversations/unread"),
        ("POST", "/api/v1/conversations/send"),
        ("POST", "/api/v1/conversations/1/close"),
        ("DELETE", "/api/v1/auth/token"),
    ]:
        response = client.open(path, method=method, json={})
        assert response.status_code == 401, (method, path)
        assert error_of(response)["code"] == "unauthorized"


def test_signing_in_returns_a_token_that_works_on_me(client, admin):
    response = client.post("/api/v1/auth/login", json={"email": "ADMIN@acme.test", "password": "pw-123456"})

    assert response.status_code == 201
    body = response.json["data"]
    assert body["user"]["email"] == "admin@acme.test"
    assert body["user"]["tenant"]["name"] == "Acme"
    assert "password" not in body["user"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json["data"]["id"] == admin.id


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "admin@acme.test", "password": "wrong-password"},
        {"email": "nobody@acme.test", "password": "pw-123456"},
    ],
    ids=["wrong-password", "unknown-email"],
)
def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(client, admin, credentials):
    response = client.post("/api/v1/auth/login", json=credentials)

    assert response.status_code == 401
    assert error_of(response) == {"code": "invalid_credentials", "message": "Email or password is wrong."}


def test_signing_in_is_throttled_after_ten_attempts_a_minute(client, app, admin):
    assert app.config["LOGIN_RATE_LIMIT"] == "10 per minute"
    wrong = {"email": "admin@acme.test", "password": "guess"}

    answers = [client.post("/api/v1/auth/login", json=wrong).status_code for _ in range(10)]
    throttled = client.post("/api/v1/auth/login", json={"email": "admin@acme.test", "password": "pw-123456"})

    assert answers == [401] * 10
    assert throttled.status_code == 429
    assert error_of(throttled)["code"] == "rate_limited"


def test_signing_out_revokes_the_token(client, admin):
    token = factories.make_token(user=admin)
    headers = {"Authorization": f"Bearer {token}"}

    assert client.delete("/api/v1/auth/token", headers=headers).status_code == 204

    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert token_row(token).revoked_at is not None


def test_signing_out_leaves_the_users_other_tokens_working(client, admin):
    phone, laptop = factories.make_token(user=admin), factories.make_token(user=admin)

    client.delete("/api/v1/auth/token", headers={"Authorization": f"Bearer {phone}"})

    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {laptop}"}).status_code == 200


def test_using_a_token_records_when_it_was_last_used(client, admin):
    token = factories.make_token(user=admin)
    assert token_row(token).last_used_at is None

    client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})

    assert token_row(token).last_used_at is not None


def test_only_the_sha256_of_a_token_is_stored(client, admin):
    response = client.post("/api/v1/auth/login", json={"email": "admin@acme.test", "password": "pw-123456"})
    token = response.json["data"]["token"]

    row = token_row(token)
    assert row is not None
    assert row.token_hash != token
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert db.session.scalar(sa.select(sa.func.count()).where(ApiToken.token_hash == token)) == 0


def test_me_describes_the_caller_and_their_account(api, admin, tenant):
    response = api.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json["data"] == {
        "id": admin.id,
        "name": admin.name,
        "email": "admin@acme.test",
        "role": "admin",
        "phone": None,
        "tenant": {"id": tenant.id, "name": "Acme", "sms_provider": None},
    }
