"""Every failure answers with the one JSON error envelope: never an HTML page, never a stack trace."""

import logging

import pytest

from app import create_app
from config import TestConfig
from tests.api.helpers import error_of


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/contacts"),
        ("POST", "/api/v1/conversations"),
        ("POST", "/api/v1/conversations/send"),
        ("PUT", "/api/v1/contacts/{contact}"),
    ],
)
def test_a_body_that_is_not_json_is_a_400_malformed_json(api, john, method, path):
    response = api.request(
        method, path.format(contact=john.id), data='{"message": "Hi",', content_type="application/json"
    )

    assert response.status_code == 400
    assert error_of(response) == {"code": "malformed_json", "message": "The request body is not valid JSON."}


def test_login_with_a_body_that_is_not_json_is_a_400(client):
    response = client.post("/api/v1/auth/login", data="email=a@b.c", content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_json"


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/nothing-here", "/api/v1/conversations/abc"])
def test_an_unknown_url_is_a_json_404(api, path):
    response = api.get(path)

    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/api/v1/conversations"), ("PATCH", "/api/v1/conversations/1"), ("GET", "/api/v1/auth/login")],
)
def test_a_wrong_method_is_a_json_405(api, method, path):
    response = api.request(method, path)

    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert error_of(response)["code"] == "method_not_allowed"


def test_an_unexpected_error_in_a_view_is_a_500_that_tells_nothing_internal(api, monkeypatch, caplog):
    def explode(tenant):
        raise RuntimeError("psycopg: password for user postgres at db.internal:5432 is hunter2")

    monkeypatch.setattr("app.services.conversations.unread_counts", explode)

    with caplog.at_level(logging.ERROR):
        response = api.get("/api/v1/conversations/unread")

    assert response.status_code == 500
    assert error_of(response) == {"code": "internal_error", "message": "Something went wrong on our side."}
    text = response.get_data(as_text=True)
    assert "hunter2" not in text
    assert "Traceback" not in text
    assert "request.unhandled-error" in caplog.messages  # the traceback goes to the log instead


def test_an_unexpected_error_in_any_route_of_a_fresh_app_is_a_json_500():
    app = create_app(TestConfig())

    @app.get("/explode")
    def explode():
        raise KeyError("internal detail")

    response = app.test_client().get("/explode")

    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert error_of(response)["code"] == "internal_error"
    assert "internal detail" not in response.get_data(as_text=True)


def test_validation_errors_name_the_fields_without_the_request_location(api):
    response = api.post("/api/v1/contacts", json={"first_name": "Pat", "email": "nope"})

    assert response.status_code == 422
    assert error_of(response) == {
        "code": "validation_failed",
        "message": "The request is not valid.",
        "fields": {"email": ["Not a valid email address."]},
    }
