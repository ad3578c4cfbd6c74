"""A user sees their signed-in devices, signs any one out, and a token left unused expires."""

from datetime import timedelta

from app.extensions import db
from app.models import ApiToken
from app.models.base import utcnow
from app.services.accounts import hash_token
from tests import factories
from tests.api.helpers import error_of


def row_of(token: str) -> ApiToken:
    db.session.expire_all()
    return db.session.query(ApiToken).filter_by(token_hash=hash_token(token)).one()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_user_lists_their_own_live_tokens_without_the_tokens_themselves(client, admin, staff):
    phone = factories.make_token(user=admin)
    laptop = factories.make_token(user=admin)
    revoked = factories.make_token(user=admin)
    client.delete("/api/v1/auth/token", headers=bearer(revoked))
    factories.make_token(user=staff)  # someone else's

    response = client.get("/api/v1/auth/tokens", headers=bearer(phone))

    assert response.status_code == 200
    rows = response.json["data"]
    assert sorted(row["id"] for row in rows) == sorted([row_of(phone).id, row_of(laptop).id])
    assert [row["current"] for row in rows if row["id"] == row_of(phone).id] == [True]
    assert all(set(row) == {"id", "name", "inserted_at", "last_used_at", "expires_at", "current"} for row in rows)
    assert phone not in response.get_data(as_text=True) and laptop not in response.get_data(as_text=True)


def test_a_user_signs_out_another_of_their_devices(client, admin):
    phone, lost_laptop = factories.make_token(user=admin), factories.make_token(user=admin)

    response = client.delete(f"/api/v1/auth/tokens/{row_of(lost_laptop).id}", headers=bearer(phone))

    assert response.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(lost_laptop)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(phone)).status_code == 200


def test_another_users_token_cannot_be_revoked_and_answers_404(client, admin, staff):
    mine, theirs = factories.make_token(user=staff), factories.make_token(user=admin)

    response = client.delete(f"/api/v1/auth/tokens/{row_of(theirs).id}", headers=bearer(mine))

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert client.get("/api/v1/me", headers=bearer(theirs)).status_code == 200


def test_a_token_unused_for_the_idle_limit_stops_working(client, app, admin):
    assert app.config["TOKEN_IDLE_DAYS"] == 30
    token = factories.make_token(user=admin)
    row = row_of(token)
    row.last_used_at = utcnow() - timedelta(days=31)
    db.session.commit()

    response = client.get("/api/v1/me", headers=bearer(token))

    assert response.status_code == 401
    assert error_of(response)["code"] == "token_expired"


def test_a_token_never_used_expires_counting_from_its_creation(client, admin):
    token = factories.make_token(user=admin)
    row = row_of(token)
    row.inserted_at = utcnow() - timedelta(days=31)
    db.session.commit()

    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_a_token_in_use_keeps_working(client, admin):
    token = factories.make_token(user=admin)
    row = row_of(token)
    row.inserted_at = utcnow() - timedelta(days=300)
    row.last_used_at = utcnow() - timedelta(days=29)
    db.session.commit()

    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert row_of(token).last_used_at > utcnow() - timedelta(minutes=1)  # using it renews it


def test_expired_tokens_are_not_listed(client, admin):
    current, stale = factories.make_token(user=admin), factories.make_token(user=admin)
    row = row_of(stale)
    row.inserted_at = utcnow() - timedelta(days=31)
    db.session.commit()

    rows = client.get("/api/v1/auth/tokens", headers=bearer(current)).json["data"]

    assert [row["id"] for row in rows] == [row_of(current).id]
