"""Registering phones, choosing what to be told, muting a conversation; signing out unregisters."""

import pytest

from app.extensions import db
from app.models import Device
from tests import factories
from tests.push.conftest import ANDROID_TOKEN, IOS_TOKEN

IOS = {"token": IOS_TOKEN, "platform": "ios", "environment": "sandbox", "app_id": "com.example.conversations"}


def test_a_phone_is_registered_to_the_caller(staff_api, staff):
    response = staff_api.post("/api/v1/devices", json=IOS)

    assert response.status_code == 201
    data = response.get_json()["data"]
    assert {key: data[key] for key in IOS} == IOS
    assert [device.user_id for device in Device.query.all()] == [staff.id]


def test_an_ios_device_is_production_unless_told_and_its_token_is_stored_in_lower_case(staff_api):
    response = staff_api.post("/api/v1/devices", json={"token": IOS_TOKEN.upper(), "platform": "ios"})

    assert response.get_json()["data"]["environment"] == "production"
    assert response.get_json()["data"]["token"] == IOS_TOKEN


def test_registering_the_same_token_again_updates_it_and_never_duplicates_it(staff_api):
    staff_api.post("/api/v1/devices", json=IOS)
    response = staff_api.post("/api/v1/devices", json={**IOS, "environment": "production"})

    assert response.status_code == 201
    assert [(device.token, device.environment) for device in Device.query.all()] == [(IOS_TOKEN, "production")]


def test_a_phone_that_changes_hands_moves_to_its_new_user_even_in_another_account(staff_api, client, staff):
    staff_api.post("/api/v1/devices", json=IOS)
    other_tenant = factories.make_tenant(name="Other")
    newcomer = factories.make_user(tenant=other_tenant)
    newcomer_api = factories.ApiClient(client, factories.make_token(user=newcomer))

    assert newcomer_api.post("/api/v1/devices", json=IOS).status_code == 201

    [device] = Device.query.all()
    assert (device.tenant_id, device.user_id) == (other_tenant.id, newcomer.id)
    assert staff_api.get("/api/v1/devices").get_json()["data"] == []


def test_the_list_shows_only_the_callers_own_devices(staff_api, api):
    staff_api.post("/api/v1/devices", json=IOS)
    api.post("/api/v1/devices", json={"token": ANDROID_TOKEN, "platform": "android", "app_id": "com.example.app"})

    listed = staff_api.get("/api/v1/devices").get_json()

    assert [device["token"] for device in listed["data"]] == [IOS_TOKEN]
    assert listed["meta"]["total"] == 1


def test_a_device_is_unregistered_by_its_token_and_someone_elses_answers_404(staff_api, api):
    staff_api.post("/api/v1/devices", json=IOS)

    assert api.delete(f"/api/v1/devices/{IOS_TOKEN}").status_code == 404
    assert staff_api.delete(f"/api/v1/devices/{IOS_TOKEN}").status_code == 204
    assert staff_api.delete(f"/api/v1/devices/{IOS_TOKEN}").status_code == 404
    assert Device.query.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token": IOS_TOKEN, "platform": "windows"}, "platform"),
        ({"token": "not-hex", "platform": "ios"}, "token"),
        ({"token": IOS_TOKEN, "platform": "ios", "environment": "staging"}, "environment"),
        ({"token": ANDROID_TOKEN, "platform": "android", "environment": "sandbox"}, "environment"),
        ({"token": "short", "platform": "android"}, "token"),
        ({"platform": "ios"}, "token"),
        ({**IOS, "colour": "blue"}, "colour"),
    ],
)
def test_bad_input_answers_422_in_the_envelope(staff_api, body, field):
    response = staff_api.post("/api/v1/devices", json=body)

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["fields"]
    assert Device.query.count() == 0


def test_signing_out_unregisters_the_devices_registered_with_that_token(client, staff):
    phone = factories.ApiClient(client, factories.make_token(user=staff))
    tablet = factories.ApiClient(client, factories.make_token(user=staff))
    phone.post("/api/v1/devices", json=IOS)
    tablet.post("/api/v1/devices", json={"token": ANDROID_TOKEN, "platform": "android"})

    assert phone.delete("/api/v1/auth/token").status_code == 204

    assert [device.token for device in Device.query.all()] == [ANDROID_TOKEN]
    assert phone.get("/api/v1/devices").status_code == 401


def test_devices_need_a_token(client):
    assert client.get("/api/v1/devices").status_code == 401


def test_preferences_are_all_on_until_changed(staff_api):
    response = staff_api.get("/api/v1/me/notifications")

    assert response.get_json()["data"] == {
        "inbound_assigned": True,
        "inbound_unassigned": True,
        "assigned_to_me": True,
        "muted_conversation_ids": [],
    }


def test_a_preference_changes_alone(staff_api):
    response = staff_api.put("/api/v1/me/notifications", json={"inbound_unassigned": False})

    assert response.status_code == 200
    assert response.get_json()["data"]["inbound_unassigned"] is False
    again = staff_api.put("/api/v1/me/notifications", json={"assigned_to_me": False}).get_json()["data"]
    assert (again["inbound_assigned"], again["inbound_unassigned"], again["assigned_to_me"]) == (True, False, False)


@pytest.mark.parametrize("body", [{"inbound_assigned": "sometimes"}, {"sound": True}])
def test_bad_preferences_answer_422(staff_api, body):
    assert staff_api.put("/api/v1/me/notifications", json=body).status_code == 422


def test_a_conversation_is_muted_and_unmuted_for_the_caller_only(staff_api, api, tenant):
    conversation = factories.make_conversation(tenant=tenant)

    muted = staff_api.put(f"/api/v1/conversations/{conversation.id}/mute")
    staff_api.put(f"/api/v1/conversations/{conversation.id}/mute")  # twice: still one mute

    assert muted.status_code == 200
    assert muted.get_json()["data"] == {"conversation_id": conversation.id, "muted": True}
    assert staff_api.get("/api/v1/me/notifications").get_json()["data"]["muted_conversation_ids"] == [conversation.id]
    assert api.get("/api/v1/me/notifications").get_json()["data"]["muted_conversation_ids"] == []
    unmuted = staff_api.delete(f"/api/v1/conversations/{conversation.id}/mute")
    assert unmuted.get_json()["data"]["muted"] is False
    assert staff_api.get("/api/v1/me/notifications").get_json()["data"]["muted_conversation_ids"] == []


def test_another_accounts_conversation_cannot_be_muted(staff_api):
    elsewhere = factories.make_conversation(tenant=factories.make_tenant(name="Other"))

    response = staff_api.put(f"/api/v1/conversations/{elsewhere.id}/mute")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "conversation_not_found"
    db.session.rollback()
