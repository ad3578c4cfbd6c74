"""CORS for the widget's API: only the origins the tenant listed (and the app's own pages).

A browser on another site gets no Access-Control-Allow-Origin, so it cannot read the answers; and
since a page can still send some requests without asking first, a request whose Origin is not
allowed is refused outright (403) instead of being processed.
"""

from flask import g, request

from app.errors import Forbidden
from app.services import webchat

ALLOWED_HEADERS = "Authorization, Content-Type, Last-Event-ID"
ALLOWED_METHODS = "GET, POST, OPTIONS"


def _same_origin(origin: str) -> bool:
    return origin.rstrip("/") == request.host_url.rstrip("/")


def _allowed(origin: str | None) -> bool:
    if not origin:
        return True  # not a browser's cross-site request (curl, a server, a same-origin GET)
    tenant = getattr(g, "widget_tenant", None)
    return _same_origin(origin) or (tenant is not None and webchat.origin_allowed(tenant, origin))


def refuse_foreign_origin(tenant) -> None:
    origin = request.headers.get("Origin")
    if not _allowed(origin):
        raise Forbidden("This website is not allowed to use this chat.", code="origin_not_allowed")


def add_cors_headers(response):
    origin = request.headers.get("Origin")
    response.headers.add("Vary", "Origin")
    if origin and _allowed(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Max-Age"] = "600"
    return response
