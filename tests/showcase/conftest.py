"""The showcase served for real (one server for the folder's tests), on a database of its own.

Its database module reads ``SHOWCASE_DATABASE_URL`` when it is first imported: set here,
before any test imports the app, and removed again so that no other test sees it.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from porch.web.testing import LiveServer, live_server

FOLDER = Path(tempfile.mkdtemp(prefix="porch-showcase-tests-"))
os.environ["SHOWCASE_DATABASE_URL"] = f"sqlite:///{FOLDER / 'site.db'}"
try:
    from examples.showcase.app import app
finally:
    del os.environ["SHOWCASE_DATABASE_URL"]


@pytest.fixture(scope="session")
def site() -> Iterator[LiveServer]:
    """The showcase on a free port: migrated and seeded by its own start-up hooks."""
    with live_server(app) as server:
        yield server


@pytest.fixture
def client(site: LiveServer) -> Iterator[httpx.Client]:
    """A visitor: its own cookies, no redirects followed unless asked."""
    with httpx.Client(base_url=site.url, timeout=10) as client:
        yield client


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, "the page has no form with a CSRF token"
    return found[1]


def register(client: httpx.Client, username: str, password: str = "a long password") -> str:
    """Register `username` through the form (logged in afterwards); returns its API token."""
    token = csrf_token(client.get("/register").text)
    form = {"username": username, "password": password, "confirm": password, "csrf_token": token}
    sent = client.post("/register", data=form)
    assert sent.status_code == 303, sent.text
    account = client.get("/account")
    assert account.status_code == 200
    found = re.search(r'<pre id="api-token">([^<]+)</pre>', account.text)
    assert found is not None
    return found[1]


def unique(prefix: str) -> str:
    return f"{prefix}{os.urandom(3).hex()}"
