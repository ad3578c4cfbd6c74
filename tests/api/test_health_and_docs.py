"""Probes for the load balancer, and the API's own description."""

import re

from openapi_spec_validator import validate


def test_the_liveness_probe_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_the_readiness_probe_checks_the_database(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.json["checks"]["database"] == "ok"


def test_the_probes_need_no_token(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_the_openapi_document_is_valid_and_lists_every_api_path(client, app):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    spec = response.json
    validate(spec)
    assert spec["openapi"].startswith("3.")
    served = {
        openapi_path(rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.endpoint.split(".")[0] != "api-docs"
    }
    assert served  # the API is mounted at all
    assert served == set(spec["paths"])


def test_the_openapi_document_describes_bearer_auth_and_the_error_envelope(client):
    spec = client.get("/api/v1/openapi.json").json

    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert "error" in spec["components"]["schemas"]["Error"]["properties"]
    assert spec["paths"]["/api/v1/auth/login"]["post"]["security"] == []


def test_the_api_docs_are_an_html_page(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "openapi.json" in response.get_data(as_text=True)
