"""The demo's chat room (examples/demo.py): two clients, one message, both see it."""

from __future__ import annotations

import httpx
import pytest
from examples.demo import app
from websockets.sync.client import connect

from porch.web.testing import live_server

pytestmark = pytest.mark.timeout(30)


def test_demo_chat_broadcasts_to_every_member():
    with live_server(app) as server:
        page = httpx.get(f"{server.url}/chat")
        assert page.status_code == 200 and "new WebSocket" in page.text
        base = f"ws://127.0.0.1:{server.port}/chat/ws"
        with connect(base) as ann:
            assert ann.recv(10) == "welcome: 1 in the room"
            with connect(base) as bob:
                assert bob.recv(10) == "welcome: 2 in the room"
                ann.send("hello from ann")
                assert ann.recv(10) == "hello from ann"
                assert bob.recv(10) == "hello from ann"
