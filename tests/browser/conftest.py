"""End-to-end tests in a real headless Chromium (Debian's package, driven by Playwright).

The app runs in a real HTTP server (a thread of this process) on its own PostgreSQL database, with
real commits; the browser talks to it like a visitor's or an admin's would. Screenshots go to
test-artifacts/. Without /usr/bin/chromium the tests skip on a laptop and fail under CI=true.
"""

import json
import os
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import live
from app.extensions import db
from config import TestConfig
from tests.services import migrated_app, postgres_url, require, truncate_everything

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


class BrowserConfig(TestConfig):
    SQLALCHEMY_DATABASE_URI = postgres_url("browser")
    LIVE_HEARTBEAT_SECONDS = 1.0


@dataclass
class LiveServer:
    app: object
    url: str

    def call(self, method: str, path: str, token: str, body: dict | None = None) -> dict | None:
        """The staff API, as the mobile app (or curl) calls it."""
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def live_server():
    app = migrated_app(BrowserConfig(), becomes_current=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        live.get_bus(app).shutdown()  # ends held streams, as SIGTERM does
        server.shutdown()
        with app.app_context():
            truncate_everything()
            db.engine.dispose()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        require("Chromium", FileNotFoundError(f"{CHROMIUM} (apt-get install chromium; .ci/run does it)"))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        require("Playwright", exc)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def screenshot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
