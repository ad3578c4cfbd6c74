"""Contacts: the people an account talks to, kept with their phone in E.164."""

import pytest

from app.extensions import db
from app.models import Contact
from app.models.base import utcnow
from tests import factories
from tests.api.helpers import count, error_of


def test_creating_a_contact_stores_the_phone_in_e164(api, tenant):
    response = api.post(
        "/api/v1/contacts",
        json={"first_name": "John", "last_name": "Doe", "phone": "(555) 123-4567", "email": "john@example.com"},
    )

    assert response.status_code == 201
    data = response.json["data"]
    assert (data["first_name"], data["last_name"], data["phone"], data["email"]) == (
        "John",
        "Doe",
        "+15551234567",
        "john@example.com",
    )
    assert data["sms_opted_out"] is False
    assert db.session.get(Contact, data["id"]).tenant_id == tenant.id


def test_a_second_contact_with_the_same_phone_is_a_conflict(api, tenant, john):
    response = api.post("/api/v1/contacts", json={"first_name": "Johnny", "phone": "555.123.4567"})

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "contact_exists"
    assert "phone" in error["fields"]
    assert count(Contact, Contact.tenant_id == tenant.id) == 1


def test_the_same_phone_may_be_a_contact_in_two_accounts(api, other_tenant):
    factories.make_contact(tenant=other_tenant, phone="+15551234567")

    assert api.post("/api/v1/contacts", json={"phone": "+15551234567"}).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first_name": "Pat", "email": "not-an-email"}, "email"),
        ({"first_name": "Pat", "phone": "call me"}, "phone"),
        ({"first_name": "Pat", "phone": "12345"}, "phone"),
        ({"first_name": "Pat", "nickname": "P"}, "nickname"),
        ({"first_name": "x" * 101}, "first_name"),
        ({}, "_schema"),
        ({"first_name": "", "sms_opted_out": False}, "_schema"),
    ],
    ids=["bad-email", "bad-phone", "short-phone", "unknown-field", "long-name", "empty", "no-way-to-reach"],
)
def test_an_invalid_contact_is_a_422_naming_the_field(api, tenant, body, field):
    response = api.post("/api/v1/contacts", json=body)

    assert response.status_code == 422
    assert field in error_of(response)["fields"]
    assert count(Contact, Contact.tenant_id == tenant.id) == 0


def test_a_request_without_a_body_is_a_422(api):
    response = api.post("/api/v1/contacts")

    assert response.status_code == 422
    assert error_of(response)["code"] == "validation_failed"


def test_reading_a_contact(api, john):
    response = api.get(f"/api/v1/contacts/{john.id}")

    assert response.status_code == 200
    assert response.json["data"]["id"] == john.id
    assert response.json["data"]["phone"] == "+15551234567"


def test_an_unknown_contact_is_a_404(api):
    response = api.get("/api/v1/contacts/999999")

    assert response.status_code == 404
    assert error_of(response)["code"] == "contact_not_found"


def test_updating_a_contact_changes_only_the_fields_given(api, john):
    response = api.put(f"/api/v1/contacts/{john.id}", json={"email": "john@doe.test", "phone": "555 000 1111"})

    assert response.status_code == 200
    data = response.json["data"]
    assert (data["first_name"], data["last_name"], data["email"], data["phone"]) == (
        "John",
        "Doe",
        "john@doe.test",
        "+15550001111",
    )


def test_opting_a_contact_out_of_sms(api, john):
    opted_out = api.put(f"/api/v1/contacts/{john.id}", json={"sms_opted_out": True})

    assert opted_out.json["data"]["sms_opted_out"] is True
    assert opted_out.json["data"]["sms_opted_out_at"] is not None
    assert api.get(f"/api/v1/contacts/{john.id}").json["data"]["sms_opted_out"] is True


@pytest.mark.parametrize("caller", ["api", "staff_api"])
def test_nobody_but_the_contact_can_lift_an_opt_out(request, tenant, caller):
    """A STOP is lifted only by the contact's START (carriers, TCPA): not by staff, not by an admin."""
    contact = factories.make_contact(tenant=tenant, phone="+15550002222", sms_opted_out_at=utcnow())
    client = request.getfixturevalue(caller)

    response = client.put(f"/api/v1/contacts/{contact.id}", json={"sms_opted_out": False, "first_name": "Still"})

    assert response.status_code == 422
    assert error_of(response)["code"] == "opt_in_by_contact_only"
    assert list(error_of(response)["fields"]) == ["sms_opted_out"]
    db.session.expire_all()
    stored = db.session.get(Contact, contact.id)
    assert (stored.sms_opted_out, stored.first_name) == (True, "Pat")


def test_saying_a_contact_who_never_opted_out_is_opted_in_changes_nothing(api, john):
    response = api.put(f"/api/v1/contacts/{john.id}", json={"sms_opted_out": False})

    assert response.status_code == 200
    assert response.json["data"]["sms_opted_out"] is False


def test_opting_out_twice_keeps_the_first_opt_out_time(api, john):
    first = api.put(f"/api/v1/contacts/{john.id}", json={"sms_opted_out": True}).json["data"]["sms_opted_out_at"]

    again = api.put(f"/api/v1/contacts/{john.id}", json={"sms_opted_out": True}).json["data"]["sms_opted_out_at"]

    assert again == first


def test_changing_a_phone_to_another_contacts_phone_is_a_conflict(api, tenant, john):
    jane = factories.make_contact(tenant=tenant, first_name="Jane", phone="+15559876543")

    response = api.put(f"/api/v1/contacts/{jane.id}", json={"phone": "+15551234567"})

    assert response.status_code == 409
    assert error_of(response)["code"] == "contact_exists"
    db.session.expire_all()
    assert db.session.get(Contact, jane.id).phone == "+15559876543"


@pytest.mark.parametrize(
    ("body", "field"), [({"email": "nope"}, "email"), ({"phone": "nope"}, "phone"), ({"tags": ["vip"]}, "tags")]
)
def test_an_invalid_update_is_a_422(api, john, body, field):
    response = api.put(f"/api/v1/contacts/{john.id}", json=body)

    assert response.status_code == 422
    assert field in error_of(response)["fields"]


class TestListingContacts:
    @pytest.fixture
    def people(self, tenant, john):
        return {
            "john": john,
            "jane": factories.make_contact(
                tenant=tenant, first_name="Jane", last_name="Roe", phone="+15559876543", email="jane@roe.test"
            ),
            "amy": factories.make_contact(tenant=tenant, first_name="Amy", last_name="Zed", phone="+15550000001"),
        }

    def test_contacts_are_listed_by_name(self, api, people):
        response = api.get("/api/v1/contacts")

        assert [c["first_name"] for c in response.json["data"]] == ["Amy", "Jane", "John"]
        assert response.json["meta"] == {"total": 3, "limit": 50, "offset": 0}

    @pytest.mark.parametrize(
        ("search", "expected"),
        [("jane", "jane"), ("John Doe", "john"), ("(555) 123-4567", "john"), ("roe.test", "jane"), ("zed", "amy")],
    )
    def test_search_finds_by_name_phone_or_email(self, api, people, search, expected):
        response = api.get("/api/v1/contacts", query_string={"search": search})

        assert [c["id"] for c in response.json["data"]] == [people[expected].id]

    def test_search_takes_wildcards_literally(self, api, people):
        response = api.get("/api/v1/contacts", query_string={"search": "%' OR 1=1 --"})

        assert response.status_code == 200
        assert response.json["data"] == []

    def test_another_tenants_contacts_are_not_listed(self, api, other_tenant):
        factories.make_contact(tenant=other_tenant, phone="+15551234567")

        assert api.get("/api/v1/contacts").json["data"] == []
