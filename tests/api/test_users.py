"""GET /api/v1/users: the people a conversation can be assigned to."""

from tests import factories


def test_users_lists_only_the_callers_account(api, tenant, admin, staff, other_tenant):
    factories.make_user(tenant=other_tenant, email="someone@globex.test")

    response = api.get("/api/v1/users")

    assert response.status_code == 200
    assert sorted(u["id"] for u in response.json["data"]) == sorted([admin.id, staff.id])
    assert response.json["meta"]["total"] == 2


def test_users_never_carry_a_password_hash(api, admin):
    [user] = api.get("/api/v1/users").json["data"]

    assert set(user) == {"id", "name", "email", "role", "phone"}


def test_staff_may_list_their_colleagues(staff_api, admin, staff):
    response = staff_api.get("/api/v1/users")

    assert response.status_code == 200
    assert {u["email"] for u in response.json["data"]} == {"admin@acme.test", "staff@acme.test"}
