"""Domain errors, and the one JSON error shape every failure is answered with.

`{"error": {"code": "...", "message": "...", "fields": {...}}}` - never an HTML page, never a
stack trace.
"""

import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 400
    code = "bad_request"
    message = "The request could not be processed."
    headers: dict = {}

    def __init__(self, message: str | None = None, *, fields: dict | None = None, code: str | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.fields = fields
        if code:
            self.code = code


class NotFound(DomainError):
    status, code, message = 404, "not_found", "Not found."


class Unauthorized(DomainError):
    status, code, message = 401, "unauthorized", "A valid bearer token is required."
    headers = {"WWW-Authenticate": "Bearer"}  # RFC 6750


class Forbidden(DomainError):
    status, code, message = 403, "forbidden", "You are not allowed to do this."


class Conflict(DomainError):
    status, code, message = 409, "conflict", "The resource is in a state that does not allow this."


class ValidationFailed(DomainError):
    status, code, message = 422, "validation_failed", "The request is not valid."


class ChannelUnavailable(DomainError):
    status, code = 422, "channel_unavailable"
    message = "This channel needs a messaging provider; none is configured for this account."


# Codes for HTTP errors raised by Flask/werkzeug/webargs rather than by our services.
_HTTP_CODES = {
    400: "malformed_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def error_response(status: int, code: str, message: str, fields: dict | None = None, headers=None):
    # `fields` is always there (empty when no one field is at fault), so clients can read it blindly.
    body = {"code": code, "message": message, "fields": fields or {}}
    response = jsonify({"error": body})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _validation_fields(messages: dict) -> dict:
    # webargs nests errors by location ({"json": {...}, "query": {...}}); clients want field names.
    fields: dict = {}
    for location_errors in messages.values():
        if isinstance(location_errors, dict):
            fields.update(location_errors)
        else:
            fields.setdefault("_schema", []).extend(location_errors)
    return fields


def handle_domain_error(error: DomainError):
    return error_response(error.status, error.code, error.message, error.fields, error.headers)


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    fields = _validation_fields(data["messages"]) if "messages" in data else None
    if status == 400 and fields and any("Invalid JSON body." in str(v) for v in fields.values()):
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    message = data.get("message") or error.description or error.name
    if status == 422:
        message = "The request is not valid."
    if status == 429:
        message = "Too many requests. Try again later."
    # Keep what werkzeug says in headers (Allow on a 405, Retry-After...), not its HTML content type.
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    return error_response(status, _HTTP_CODES.get(status, "http_error"), message, fields, headers)


def handle_unexpected(error: Exception):
    # The traceback goes to the log (never to the client); the message names nothing internal.
    log.exception("request.unhandled-error")
    return error_response(500, "internal_error", "Something went wrong on our side.")


def handle_database_unavailable(error: Exception):
    # A restart or a failover: nothing was stored, and the client can safely try again in a moment.
    log.warning("request.database-unavailable", extra={"error": error.__class__.__name__})
    return error_response(
        503, "unavailable", "The service is briefly unavailable; try again.", headers={"Retry-After": "2"}
    )


def register_error_handlers(app) -> None:
    from sqlalchemy.exc import OperationalError

    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
