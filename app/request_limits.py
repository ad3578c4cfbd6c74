"""What a request may send, decided before its body is read: its size (413) and its type (415).

Each route family has its own ceiling, far above what a genuine request needs and far below what
would tie up a worker: the API's JSON bodies, a Twilio form post, a GHL event. Werkzeug enforces
`request.max_content_length` while reading, and a chunked body without a Content-Length is read
up to the limit here, so it is refused at the same size.
"""

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
UPLOADS = "/api/v1/uploads"  # the one API route that takes a file (multipart), not JSON


def body_limit(path: str) -> int:
    config = current_app.config
    if path.startswith("/webhooks/twilio"):
        return config["TWILIO_WEBHOOK_MAX_BYTES"]
    if path.startswith("/webhooks/ghl"):
        return config["GHL_WEBHOOK_MAX_BYTES"]
    if path.startswith("/api/v1/auth/login"):
        return config["LOGIN_MAX_BYTES"]
    if path == UPLOADS:  # a phone's photo, resized afterwards when it is over the provider's limit
        return config["UPLOAD_REQUEST_MAX_BYTES"]
    return config["API_MAX_BYTES"]


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def check_request_body() -> None:
    limit = body_limit(request.path)
    too_large = RequestEntityTooLarge(f"The request body is larger than this endpoint accepts ({limit} bytes).")
    if request.content_length is not None:
        request.max_content_length = limit
        if request.content_length > limit:
            raise too_large
    elif _has_body():
        # Chunked, no length: werkzeug would stop reading at the limit and hand over a truncated
        # body. Read (and cache) one byte more than allowed instead, so an oversized body is a 413.
        request.max_content_length = limit + 1
        if len(request.get_data(cache=True)) > limit:
            raise too_large
    if request.path == UPLOADS:
        if request.mimetype != "multipart/form-data":
            raise UnsupportedMediaType("Send the file as multipart/form-data, in the field `file`.")
    elif request.path.startswith("/api/") and request.method in BODY_METHODS and _has_body() and not request.is_json:
        # webargs would read a text/plain body as no body at all: say what is wrong instead.
        raise UnsupportedMediaType("Send the request body as JSON, with Content-Type: application/json.")


def register_request_limits(app: Flask) -> None:
    app.before_request(check_request_body)
