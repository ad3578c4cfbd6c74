"""Messaging settings: admins choose the provider; its secrets are write-only, encrypted, never shown or logged."""

import json
import logging
import os
import subprocess
import sys

import pytest
import responses
from cryptography.fernet import Fernet

from app import crypto
from app.extensions import db
from app.models import Tenant
from app.services import provider_registry
from tests import factories
from tests.pipeline import live
from tests.pipeline.fakes import FakeProvider, bad_credentials, network_down

URL = "/api/v1/settings/messaging"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "tok-5ecret-value-1234"
GHL_KEY = "pit-5ecret-ghl-key-5678"
TWILIO = {
    "sms_provider": "twilio",
    "twilio_account_sid": SID,
    "twilio_auth_token": TOKEN,
    "twilio_phone_number": "+15550001111",
}
SECRETS = (SID, TOKEN, GHL_KEY)
EXPECTED_NEW_ACCOUNT = {
    "sms_provider": None,
    "ghl_location_id": None,
    "ghl_api_key_set": False,
    "twilio_phone_number": None,
    "twilio_messaging_service_sid": None,
    "twilio_account_sid_set": False,
    "twilio_auth_token_set": False,
    "webhook_urls": {
        "twilio": "https://api.example.test/webhooks/twilio",
        "ghl": "https://api.example.test/webhooks/ghl",
    },
}


@pytest.fixture
def tenant(db):
    """An account with no provider yet."""
    return factories.make_tenant(name="Acme")


def stored(tenant) -> Tenant:
    db.session.expire_all()
    return db.session.get(Tenant, tenant.id)


@pytest.fixture
def verifier(use_provider):
    """The provider `?verify=true` asks; script its answer with `verifier.credentials_error`."""
    fake = FakeProvider()
    use_provider(fake)
    return fake


class TestReading:
    def test_an_admin_sees_the_settings_and_where_to_point_the_providers_webhooks(self, api):
        response = api.get(URL)

        assert response.status_code == 200
        data = response.json["data"]
        assert not {"ghl_api_key", "twilio_account_sid", "twilio_auth_token"} & set(data)
        assert {name: data.get(name) for name in EXPECTED_NEW_ACCOUNT} == EXPECTED_NEW_ACCOUNT

    @pytest.mark.parametrize("method", ["GET", "PUT"])
    def test_staff_may_not_see_or_change_them(self, staff_api, method, tenant):
        response = staff_api.request(method, URL, json=TWILIO if method == "PUT" else None)

        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"
        assert stored(tenant).sms_provider is None

    def test_without_a_token_nothing_is_shown(self, client):
        assert client.get(URL).status_code == 401


class TestSecretsAreWriteOnly:
    def test_saved_secrets_are_only_ever_reported_as_set(self, api):
        saved = api.put(URL, json=TWILIO)
        shown = api.get(URL)

        for response in (saved, shown):
            assert response.status_code == 200, response.json
            assert response.json["data"]["twilio_account_sid_set"] is True
            assert response.json["data"]["twilio_auth_token_set"] is True
            assert not any(secret in response.get_data(as_text=True) for secret in SECRETS)
        assert shown.json["data"]["sms_provider"] == "twilio"
        assert shown.json["data"]["twilio_phone_number"] == "+15550001111"

    def test_they_are_stored_encrypted_under_the_configured_keys(self, api, tenant):
        api.put(URL, json=TWILIO)

        row = stored(tenant)
        assert TOKEN not in row.twilio_auth_token_encrypted
        assert SID not in row.twilio_account_sid_encrypted
        assert crypto.decrypt(row.twilio_auth_token_encrypted) == TOKEN
        assert crypto.decrypt(row.twilio_account_sid_encrypted) == SID

    def test_the_adapter_gets_them_decrypted(self, api, tenant):
        api.put(URL, json=TWILIO)

        provider = provider_registry.provider_for(stored(tenant))

        assert provider.account_sid == SID

    def test_a_secret_left_out_is_kept_and_null_clears_it(self, api, tenant):
        api.put(URL, json=TWILIO)
        api.put(URL, json={"twilio_phone_number": "+15550002222"})
        assert stored(tenant).twilio_auth_token_encrypted is not None

        response = api.put(URL, json={"sms_provider": None, "twilio_auth_token": None})

        assert response.json["data"]["twilio_auth_token_set"] is False
        assert stored(tenant).twilio_auth_token_encrypted is None

    def test_secrets_never_reach_the_logs(self, api, caplog, verifier):
        verifier.credentials_error = bad_credentials()
        with caplog.at_level(logging.DEBUG):
            api.put(URL, json={"sms_provider": "ghl", "ghl_api_key": GHL_KEY, "ghl_location_id": "loc-1"})
            api.put(URL, json=TWILIO)
            api.put(URL + "?verify=true", json={**TWILIO, "twilio_auth_token": TOKEN + "x"})

        assert caplog.records  # the settings change itself is logged
        logged = "\n".join(json.dumps(record.__dict__, default=str) for record in caplog.records)
        assert not any(secret in logged for secret in SECRETS)

    def test_an_unknown_field_is_refused(self, api, tenant):
        response = api.put(URL, json={"twilio_auth_token_encrypted": "gAAAA..."})

        assert response.status_code == 422


class TestCompleteness:
    @pytest.mark.parametrize(
        ("changes", "missing"),
        [
            ({"sms_provider": "twilio"}, {"twilio_account_sid", "twilio_auth_token", "twilio_phone_number"}),
            ({**TWILIO, "twilio_phone_number": None}, {"twilio_phone_number"}),
            ({"sms_provider": "ghl", "ghl_api_key": GHL_KEY}, {"ghl_location_id"}),
            ({"sms_provider": "ghl"}, {"ghl_api_key", "ghl_location_id"}),
        ],
    )
    def test_a_provider_without_what_it_needs_is_refused_and_nothing_saved(self, api, tenant, changes, missing):
        response = api.put(URL, json=changes)

        assert response.status_code == 422
        assert set(response.json["error"]["fields"]) == missing
        assert stored(tenant).sms_provider is None
        assert stored(tenant).ghl_api_key_encrypted is None

    def test_a_messaging_service_stands_in_for_a_phone_number(self, api):
        response = api.put(
            URL, json={**TWILIO, "twilio_phone_number": None, "twilio_messaging_service_sid": "MG" + "ab" * 16}
        )

        assert response.status_code == 200

    def test_a_ghl_location_belongs_to_one_account(self, api):
        factories.make_tenant(name="Globex", sms_provider="ghl", ghl_location_id="loc-1")

        response = api.put(URL, json={"sms_provider": "ghl", "ghl_api_key": GHL_KEY, "ghl_location_id": "loc-1"})

        assert response.status_code == 409
        assert response.json["error"]["code"] == "ghl_location_taken"


class TestVerifying:
    def test_credentials_the_provider_accepts_are_saved(self, api, tenant, verifier):
        response = api.put(URL + "?verify=true", json=TWILIO)

        assert response.status_code == 200
        assert stored(tenant).sms_provider == "twilio"

    def test_credentials_the_provider_refuses_are_reported_and_not_saved(self, api, tenant, verifier):
        verifier.credentials_error = bad_credentials()

        response = api.put(URL + "?verify=true", json=TWILIO)

        assert response.status_code == 422
        assert response.json["error"]["code"] == "provider_credentials_invalid"
        assert "refused these credentials" in response.json["error"]["message"]
        assert stored(tenant).sms_provider is None
        assert stored(tenant).twilio_auth_token_encrypted is None

    def test_a_provider_that_cannot_be_reached_says_so_and_nothing_is_saved(self, api, tenant, verifier):
        verifier.credentials_error = network_down()

        response = api.put(URL + "?verify=true", json=TWILIO)

        assert response.status_code == 422
        assert response.json["error"]["code"] == "provider_unreachable"
        assert "try again" in response.json["error"]["message"]
        assert stored(tenant).sms_provider is None

    def test_an_edit_another_admin_saves_during_verification_is_kept(self, api, tenant, verifier, monkeypatch):
        def colleague_saves_a_forwarding_number():
            other = db.session.get(Tenant, tenant.id)
            other.forwarding_phone_number = "+15557654321"
            db.session.commit()

        monkeypatch.setattr(verifier, "verify_credentials", colleague_saves_a_forwarding_number)

        assert api.put(URL + "?verify=true", json=TWILIO).status_code == 200

        assert (stored(tenant).sms_provider, stored(tenant).forwarding_phone_number) == ("twilio", "+15557654321")

    def test_without_verify_the_provider_is_not_asked(self, api, tenant, verifier):
        verifier.credentials_error = bad_credentials()

        assert api.put(URL, json=TWILIO).status_code == 200

    @responses.activate
    def test_twilio_itself_refusing_the_token_is_reported_without_echoing_it(self, api, tenant):
        responses.get(
            f"https://api.twilio.com/2010-04-01/Accounts/{SID}.json",
            status=401,
            json={"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003"},
        )

        response = api.put(URL + "?verify=true", json=TWILIO)

        assert response.status_code == 422
        assert response.json["error"]["code"] == "provider_credentials_invalid"
        assert TOKEN not in response.get_data(as_text=True)
        assert len(responses.calls) == 1


class TestConnectingAGhlLocation:
    """GHL's webhooks carry no per-account secret: only a working key proves a location is yours."""

    GHL = {"sms_provider": "ghl", "ghl_api_key": GHL_KEY, "ghl_location_id": "loc-of-someone-else"}

    @pytest.fixture(autouse=True)
    def verification_required(self, app, monkeypatch):
        monkeypatch.setitem(app.config, "REQUIRE_PROVIDER_VERIFICATION", True)

    def test_is_verified_even_when_not_asked(self, api, tenant, verifier):
        verifier.credentials_error = bad_credentials()

        response = api.put(URL, json=self.GHL)

        assert response.status_code == 422
        assert response.json["error"]["code"] == "provider_credentials_invalid"
        assert (stored(tenant).sms_provider, stored(tenant).ghl_location_id) == (None, None)

    def test_a_key_ghl_accepts_connects_it(self, api, tenant, verifier):
        assert api.put(URL, json=self.GHL).status_code == 200

        assert stored(tenant).ghl_location_id == "loc-of-someone-else"

    def test_other_changes_to_a_connected_location_are_not_reverified(self, api, tenant, verifier):
        api.put(URL, json=self.GHL)
        verifier.credentials_error = network_down()

        assert api.put(URL, json={"forwarding_phone_number": "+15557654321"}).status_code == 200


@responses.activate
def test_talking_to_twilio_logs_neither_the_account_sid_nor_the_token(api, caplog):
    caplog.set_level(logging.DEBUG)
    responses.get(f"https://api.twilio.com/2010-04-01/Accounts/{SID}.json", json={"sid": SID, "status": "active"})

    assert api.put(URL + "?verify=true", json=TWILIO).status_code == 200

    assert len(responses.calls) == 1
    assert SID not in caplog.text and TOKEN not in caplog.text


class TestRotatingTheEncryptionKey:
    def test_every_secret_is_re_encrypted_under_the_newest_key(self, app, api, tenant, monkeypatch):
        old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
        monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", old)
        api.put(URL, json=TWILIO)
        other = factories.make_tenant(name="Globex")
        other.ghl_api_key_encrypted = crypto.encrypt(GHL_KEY)
        db.session.commit()

        monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", f"{new},{old}")
        result = app.test_cli_runner().invoke(args=["secrets", "rotate"])

        assert result.exit_code == 0, result.output
        assert "Re-encrypted 3 secrets" in result.output
        assert not any(secret in result.output for secret in SECRETS)
        monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", new)  # the old key can now be retired
        assert crypto.decrypt(stored(tenant).twilio_auth_token_encrypted) == TOKEN
        assert crypto.decrypt(stored(tenant).twilio_account_sid_encrypted) == SID
        assert crypto.decrypt(stored(other).ghl_api_key_encrypted) == GHL_KEY

    def test_a_secret_under_a_retired_key_is_unreadable_without_naming_it(self, app, api, tenant, monkeypatch):
        monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", Fernet.generate_key().decode())
        api.put(URL, json=TWILIO)
        monkeypatch.setitem(app.config, "ENCRYPTION_KEYS", Fernet.generate_key().decode())

        with pytest.raises(crypto.SecretUnreadable) as unreadable:
            crypto.decrypt(stored(tenant).twilio_auth_token_encrypted)

        assert TOKEN not in str(unreadable.value)


@pytest.mark.integration
def test_the_operators_rotate_command_re_encrypts_what_is_stored(committed, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setitem(committed.config, "ENCRYPTION_KEYS", old)
    tenant = factories.make_tenant(
        name="Acme", ghl_api_key_encrypted=crypto.encrypt(GHL_KEY), twilio_auth_token_encrypted=crypto.encrypt(TOKEN)
    )
    environment = {
        **os.environ,
        "DATABASE_URL": live.CommittedConfig.SQLALCHEMY_DATABASE_URI,
        "ENCRYPTION_KEYS": f"{new},{old}",
    }
    environment.pop("REDIS_URL", None)

    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "secrets", "rotate"],
        cwd=live.ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert "Re-encrypted 2 secrets" in done.stdout
    assert not any(secret in done.stdout + done.stderr for secret in SECRETS)
    monkeypatch.setitem(committed.config, "ENCRYPTION_KEYS", new)
    row = stored(tenant)
    assert (crypto.decrypt(row.ghl_api_key_encrypted), crypto.decrypt(row.twilio_auth_token_encrypted)) == (
        GHL_KEY,
        TOKEN,
    )
