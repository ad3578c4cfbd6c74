"""Each operation's real error statuses in the OpenAPI document, all with the one error envelope.

flask-smorest documents a `default` error and 422 only; a client generator or a fuzzer needs to
know which statuses an operation really answers. The rules below mirror where each comes from:
the bearer check (401), the admin check (403), an id in the path (404), a body (400 malformed
JSON, 413, 415, 422), a state conflict (409), the login throttle (429).
"""

from flask_smorest import Api

# HTTPStatus names: flask-smorest registers a response component (with the Error schema) for each.
STATUS_NAMES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "REQUEST_ENTITY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
}
BODY_METHODS = ("post", "put", "patch", "delete")
# Operations that can meet a state conflict (services raise Conflict): one open conversation per
# contact and channel, an archived conversation, an already-assigned one, a taken phone number,
# a reused Idempotency-Key.
CONFLICTS = {
    ("post", "/api/v1/conversations"),
    ("put", "/api/v1/conversations/{conversation_id}"),
    ("post", "/api/v1/conversations/{conversation_id}/assign"),
    ("post", "/api/v1/conversations/{conversation_id}/close"),
    ("post", "/api/v1/conversations/{conversation_id}/reopen"),
    ("post", "/api/v1/conversations/{conversation_id}/messages"),
    ("post", "/api/v1/conversations/send"),
    ("post", "/api/v1/contacts"),
    ("put", "/api/v1/contacts/{contact_id}"),
    ("put", "/api/v1/settings/messaging"),
}
THROTTLED = {("post", "/api/v1/auth/login")}


def error_statuses(method: str, path: str, operation: dict) -> set[int]:
    statuses = set()
    public = operation.get("security") == []
    if not public:
        statuses.add(401)
    if path.startswith("/api/v1/settings"):
        statuses.add(403)
    if "{" in path:
        statuses.add(404)
    if method in BODY_METHODS:
        statuses |= {400, 413, 415, 422} if "requestBody" in operation else {413, 415}
    if any(parameter.get("in") == "query" for parameter in operation.get("parameters", [])):
        statuses.add(422)
    if (method, path) in CONFLICTS:
        statuses.add(409)
    if (method, path) in THROTTLED:
        statuses |= {401, 429}
    return statuses


def document_errors(api: Api) -> None:
    """Add every operation's error statuses to the document (call after registering the blueprints)."""
    spec = api.spec
    # apispec keeps the registered paths here; flask-smorest has no public hook after registration.
    for path, operations in spec._paths.items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(method, path, operation)):
                responses.setdefault(str(status), spec.components.get_ref("response", STATUS_NAMES[status]))
