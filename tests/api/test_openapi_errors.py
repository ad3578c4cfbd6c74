"""The OpenAPI document names each operation's real error statuses, each with the error envelope."""

import pytest

EXPECTED = {
    ("post", "/api/v1/auth/login"): {"400", "401", "413", "415", "422", "429"},
    ("get", "/api/v1/me"): {"401"},
    ("get", "/api/v1/conversations"): {"401", "422"},
    ("post", "/api/v1/conversations"): {"400", "401", "409", "413", "415", "422"},
    ("get", "/api/v1/conversations/{conversation_id}"): {"401", "404"},
    ("put", "/api/v1/contacts/{contact_id}"): {"400", "401", "404", "409", "413", "415", "422"},
    ("post", "/api/v1/conversations/{conversation_id}/close"): {"401", "404", "409", "413", "415"},
    ("put", "/api/v1/settings/messaging"): {"400", "401", "403", "409", "413", "415", "422"},
    ("delete", "/api/v1/auth/tokens/{token_id}"): {"401", "404", "413", "415"},
}


@pytest.fixture(scope="module")
def document(app):
    return app.test_client().get("/api/v1/openapi.json").json


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED), ids=lambda value: str(value))
def test_an_operation_documents_its_error_statuses(document, method, path):
    responses = document["paths"][path][method]["responses"]

    assert {status for status in responses if status.startswith("4")} == EXPECTED[(method, path)]


def test_every_documented_error_is_the_envelope(document):
    components = document["components"]["responses"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status, response in operation["responses"].items():
                if status.startswith("4") or status == "default":
                    name = response["$ref"].rsplit("/", 1)[1]
                    schema = components[name]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    assert sorted(document["components"]["schemas"]["ErrorDetail"]["required"]) == ["code", "fields", "message"]
