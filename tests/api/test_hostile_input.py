"""Input a client, a fuzzer or an attacker can send: refused with a 4xx in the envelope, never a 500."""

import io
import json

import pytest

from app.extensions import db
from app.models import Contact, Conversation
from app.schemas.common import UNSTORABLE_TEXT
from tests import factories
from tests.api.helpers import error_of

NUL = "a\u0000b"
LONE_SURROGATE = "a\ud800b"


@pytest.fixture
def web_conversation(tenant, john):
    return factories.make_conversation(tenant=tenant, contact=john, channel="web")


class TestTextPostgresCannotStore:
    @pytest.mark.parametrize("path", ["/api/v1/conversations", "/api/v1/contacts"])
    def test_a_nul_in_a_search_is_a_422_naming_the_field(self, api, path):
        response = api.get(path, query_string={"search": NUL})

        assert response.status_code == 422
        assert error_of(response)["fields"] == {"search": [UNSTORABLE_TEXT]}

    @pytest.mark.parametrize(
        ("method", "path", "body", "field"),
        [
            ("POST", "/api/v1/contacts", {"first_name": NUL}, "first_name"),
            ("PUT", "/api/v1/contacts/{contact}", {"last_name": NUL}, "last_name"),
            ("POST", "/api/v1/conversations", {"channel": "web", "visitor_name": NUL}, "visitor_name"),
            ("PUT", "/api/v1/conversations/{conversation}", {"metadata": {NUL: "x"}}, "metadata"),
            ("PUT", "/api/v1/conversations/{conversation}", {"metadata": {"k": [{"deep": NUL}]}}, "metadata"),
            ("POST", "/api/v1/conversations/{conversation}/messages", {"message": NUL}, "message"),
            ("POST", "/api/v1/conversations/send", {"contact_id": 1, "message": NUL, "channel": "web"}, "message"),
            ("POST", "/api/v1/contacts", {"first_name": LONE_SURROGATE}, "first_name"),
        ],
    )
    def test_a_nul_or_a_lone_surrogate_in_a_body_is_a_422_naming_the_field(
        self, api, john, web_conversation, method, path, body, field
    ):
        url = path.format(contact=john.id, conversation=web_conversation.id)
        # Sent as JSON text, as a client would: "\u0000" and "\ud800" escapes.
        response = api.request(method, url, data=json.dumps(body), content_type="application/json")

        assert response.status_code == 422, response.json
        assert list(error_of(response)["fields"]) == [field]

    def test_a_nul_in_an_idempotency_key_is_a_422(self, api, web_conversation):
        response = api.post(
            f"/api/v1/conversations/{web_conversation.id}/messages",
            json={"message": "Hi"},
            headers={"Idempotency-Key": "key\u0000"},
        )

        assert response.status_code == 422
        assert list(error_of(response)["fields"]) == ["Idempotency-Key"]


class TestStringLimits:
    def test_an_email_longer_than_its_column_is_a_422_not_a_500(self, api):
        email = "a" * 64 + "@" + ".".join(["b" * 63] * 4) + ".test"  # a valid address of 330 characters
        assert len(email) > 320

        response = api.post("/api/v1/contacts", json={"first_name": "Long", "email": email})

        assert response.status_code == 422
        assert list(error_of(response)["fields"]) == ["email"]

    def test_a_visitor_email_longer_than_its_column_is_a_422(self, api):
        email = "a" * 64 + "@" + ".".join(["b" * 63] * 4) + ".test"

        response = api.post("/api/v1/conversations", json={"channel": "web", "visitor_email": email})

        assert response.status_code == 422
        assert list(error_of(response)["fields"]) == ["visitor_email"]


class TestMetadataBounds:
    def test_metadata_nested_a_thousand_levels_deep_is_refused_as_malformed(self, api, web_conversation):
        deep = '{"a": ' * 1000 + "{}" + "}" * 1000  # deeper than Python's json.dumps can write

        response = api.put(
            f"/api/v1/conversations/{web_conversation.id}",
            data='{"metadata": ' + deep + "}",
            content_type="application/json",
        )

        assert response.status_code == 400
        assert error_of(response)["code"] == "malformed_json"

    def test_metadata_nested_deeper_than_ten_levels_is_a_422(self, api, web_conversation):
        deep: dict = {}
        for _ in range(50):
            deep = {"a": deep}

        response = api.put(f"/api/v1/conversations/{web_conversation.id}", json={"metadata": deep})

        assert response.status_code == 422
        assert error_of(response)["fields"] == {"metadata": ["At most 10 levels deep."]}

    def test_metadata_ten_levels_deep_is_stored(self, api, web_conversation):
        deep: dict = {"leaf": 1}
        for _ in range(9):
            deep = {"a": deep}

        response = api.put(f"/api/v1/conversations/{web_conversation.id}", json={"metadata": deep})

        assert response.status_code == 200
        assert response.json["data"]["metadata"] == deep

    def test_metadata_larger_than_16_kb_is_a_422_and_not_stored(self, api, web_conversation):
        response = api.put(f"/api/v1/conversations/{web_conversation.id}", json={"metadata": {"blob": "x" * 17_000}})

        assert response.status_code == 422
        assert error_of(response)["fields"] == {"metadata": ["At most 16384 bytes as JSON."]}
        db.session.expire_all()
        assert db.session.get(Conversation, web_conversation.id).meta == {}

    @pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
    def test_nan_and_infinity_are_not_json_and_are_a_400(self, api, web_conversation, constant):
        response = api.put(
            f"/api/v1/conversations/{web_conversation.id}",
            data='{"metadata": {"score": ' + constant + "}}",
            content_type="application/json",
        )

        assert response.status_code == 400
        assert error_of(response)["code"] == "malformed_json"

    def test_a_body_nested_too_deep_for_the_json_parser_is_a_400(self, api):
        response = api.post("/api/v1/contacts", data="[" * 30_000, content_type="application/json")

        assert response.status_code == 400
        assert error_of(response)["code"] == "malformed_json"


class TestBodySize:
    def test_an_api_body_over_64_kb_is_a_413_in_the_envelope(self, api):
        response = api.post("/api/v1/contacts", json={"first_name": "x" * 70_000})

        assert response.status_code == 413
        assert error_of(response)["code"] == "payload_too_large"

    def test_a_large_login_body_is_refused_before_it_is_read(self, client):
        response = client.post("/api/v1/auth/login", json={"email": "a@b.test", "password": "p" * 10_000})

        assert response.status_code == 413
        assert error_of(response)["code"] == "payload_too_large"

    def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(self, api):
        body = b'{"first_name": "' + b"x" * 100_000 + b'"}'

        # As gunicorn hands over a chunked request: no Content-Length, the stream ends where the body does.
        response = api.post(
            "/api/v1/contacts",
            input_stream=io.BytesIO(body),
            content_type="application/json",
            headers={"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )

        assert response.status_code == 413
        assert error_of(response)["code"] == "payload_too_large"

    def test_a_body_under_the_limit_is_read(self, api):
        response = api.post("/api/v1/contacts", json={"first_name": "Ann", "last_name": "x" * 100})

        assert response.status_code == 201


class TestContentType:
    def test_a_json_body_sent_as_text_plain_is_a_415(self, api):
        response = api.post("/api/v1/contacts", data='{"first_name": "Ann"}', content_type="text/plain")

        assert response.status_code == 415
        assert error_of(response)["code"] == "unsupported_media_type"
        assert db.session.query(Contact).count() == 0

    def test_an_empty_body_needs_no_content_type(self, api, web_conversation):
        response = api.post(f"/api/v1/conversations/{web_conversation.id}/assign")

        assert response.status_code == 200


class TestIds:
    @pytest.mark.parametrize("contact_id", [1.5, "1", True, 1e3])
    def test_an_id_in_a_body_must_be_a_json_integer(self, api, john, contact_id):
        if contact_id == "1" or contact_id == 1e3:
            contact_id = str(john.id) if contact_id == "1" else float(john.id)
        response = api.post(
            "/api/v1/conversations/send", json={"contact_id": contact_id, "message": "Hi", "channel": "web"}
        )

        assert response.status_code == 422
        assert list(error_of(response)["fields"]) == ["contact_id"]

    def test_a_fractional_id_does_not_reach_the_contact_it_rounds_to(self, api, john):
        response = api.post(
            "/api/v1/conversations/send", json={"contact_id": john.id + 0.5, "message": "Hi", "channel": "web"}
        )

        assert response.status_code == 422
        assert db.session.query(Conversation).count() == 0

    @pytest.mark.parametrize("value", ["1.5", " 1", "1_0", "+1", "١"])
    def test_an_id_in_a_query_string_is_digits_only(self, api, value):
        response = api.get("/api/v1/conversations", query_string={"contact_id": value})

        assert response.status_code == 422
        assert list(error_of(response)["fields"]) == ["contact_id"]

    def test_a_plain_id_in_a_query_string_is_accepted(self, api, john, web_conversation):
        response = api.get("/api/v1/conversations", query_string={"contact_id": str(john.id)})

        assert response.status_code == 200
        assert [row["id"] for row in response.json["data"]] == [web_conversation.id]


class TestSecrets:
    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"twilio_auth_token": "tökén-with-latin-1-and-more-€"}, "twilio_auth_token"),
            ({"twilio_auth_token": "token with spaces"}, "twilio_auth_token"),
            ({"twilio_account_sid": "AC" + "0" * 32 + "\n"}, "twilio_account_sid"),
            ({"twilio_account_sid": "AC" + "g" * 32}, "twilio_account_sid"),
            ({"twilio_messaging_service_sid": "MG" + "0" * 31}, "twilio_messaging_service_sid"),
            ({"ghl_api_key": "pit-€uro"}, "ghl_api_key"),
            ({"ghl_location_id": "loc/../1"}, "ghl_location_id"),
        ],
    )
    def test_a_secret_of_the_wrong_shape_is_a_422_not_a_500(self, api, changes, field):
        response = api.put("/api/v1/settings/messaging?verify=true", json={"sms_provider": "twilio", **changes})

        assert response.status_code == 422
        assert field in error_of(response)["fields"]


class TestMessages:
    def test_an_http_media_url_is_refused_because_it_is_not_https(self, api, web_conversation):
        response = api.post(
            f"/api/v1/conversations/{web_conversation.id}/messages", json={"media_urls": ["http://example.com/a.png"]}
        )

        assert response.status_code == 422
        (message,) = error_of(response)["fields"]["media_urls"]["0"]
        assert "https" in message


class TestStandaloneAccount:
    @pytest.mark.parametrize("channel", ["sms", "whatsapp", "voice"])
    def test_a_phone_conversation_is_refused_without_a_provider(self, api, john, channel):
        response = api.post("/api/v1/conversations", json={"channel": channel, "contact_id": john.id})

        assert response.status_code == 422
        assert error_of(response)["code"] == "channel_unavailable"
        assert db.session.query(Conversation).count() == 0

    def test_a_web_conversation_needs_no_provider(self, api, john):
        response = api.post("/api/v1/conversations", json={"channel": "web", "contact_id": john.id})

        assert response.status_code == 201


class TestEnvelope:
    @pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/conversations/999999"])
    def test_fields_is_always_in_the_error_envelope(self, api, path):
        response = api.get(path)

        assert response.status_code == 404
        assert response.json["error"]["fields"] == {}
