"""Fixtures for the web chat tests: a visitor's browser, and reading Server-Sent Events."""

import json
import time

import pytest

from tests import factories

ORIGIN = "https://shop.example"


@pytest.fixture
def other_tenant(db):
    return factories.make_tenant(name="Globex")


@pytest.fixture
def other_api(client, other_tenant):
    user = factories.make_user(tenant=other_tenant, role="admin", email="admin@globex.test")
    return factories.ApiClient(client, factories.make_token(user=user))


@pytest.fixture
def fast_streams(app):
    """Streams that send a keep-alive every 50 ms, so a test reading them never waits long."""
    before = app.config["LIVE_HEARTBEAT_SECONDS"]
    app.config["LIVE_HEARTBEAT_SECONDS"] = 0.05
    yield
    app.config["LIVE_HEARTBEAT_SECONDS"] = before


class Visitor:
    """A website visitor's browser talking to the widget API of one tenant."""

    def __init__(self, client, widget_key: str, origin: str | None = ORIGIN):
        self.client = client
        self.key = widget_key
        self.origin = origin
        self.token: str | None = None
        self.conversation_id: int | None = None

    def headers(self, token: str | None = None) -> dict:
        headers = {"Origin": self.origin} if self.origin else {}
        token = token or self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def url(self, path: str = "") -> str:
        return f"/widget/v1/{self.key}{path}"

    def conversation_url(self, path: str = "", conversation_id: int | None = None) -> str:
        return self.url(f"/conversations/{conversation_id or self.conversation_id}{path}")

    def start(self, environ_base: dict | None = None, **fields):
        response = self.client.post(
            self.url("/conversations"), json=fields, headers=self.headers(), environ_base=environ_base or {}
        )
        if response.status_code == 201:
            self.token = response.json["data"]["visitor_token"]
            self.conversation_id = response.json["data"]["conversation"]["id"]
        return response

    def say(self, text: str, **kwargs):
        return self.client.post(
            self.conversation_url("/messages"), json={"message": text}, headers=self.headers(), **kwargs
        )

    def messages(self, after: int | None = None, **kwargs):
        query = f"?after={after}" if after is not None else ""
        return self.client.get(self.conversation_url("/messages") + query, headers=self.headers(), **kwargs)


@pytest.fixture
def widget_tenant(tenant):
    tenant.widget_allowed_origins = [ORIGIN]
    from app.extensions import db

    db.session.commit()
    return tenant


@pytest.fixture
def visitor(client, widget_tenant):
    return Visitor(client, widget_tenant.widget_key)


def open_stream(client, path: str, headers: dict):
    response = client.get(path, headers=headers, buffered=False)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/event-stream"
    return response, iter(response.response)


def read_events(chunks, count: int, *, within: float = 3.0) -> list[dict]:
    """The next `count` events of an SSE stream, as {"id", "event", "data"} (keep-alives skipped)."""
    events, deadline = [], time.monotonic() + within
    while len(events) < count and time.monotonic() < deadline:
        chunk = next(chunks)
        chunk = chunk.decode() if isinstance(chunk, bytes) else chunk
        for frame in chunk.split("\n\n"):
            fields = {}
            for line in frame.splitlines():
                name, _, value = line.partition(": ")
                if name in ("id", "event", "data"):
                    fields[name] = value
            if "event" in fields:
                fields["data"] = json.loads(fields.get("data", "null"))
                events.append(fields)
    return events


def nothing_more(chunks, *, within: float = 0.3) -> bool:
    return read_events(chunks, 1, within=within) == []
