"""Incoming back-pressure (an app that does not read) and WebSockets over TLS (wss)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from websockets.sync.client import connect

import porch
from porch.web.testing import live_server
from porch.websocket.protocol import WebSocketProtocol
from tests.server.test_tls import Pki
from tests.websocket.conftest import masked_frame, raw_upgrade

pytestmark = pytest.mark.timeout(30)
WAIT = 10.0


def test_an_app_that_does_not_read_pauses_the_socket(monkeypatch):
    """The app takes no message: porch holds at most ws_max_queue of them and stops reading
    the socket, so the client's sends back up in TCP instead of in porch's memory."""
    app = porch.App()
    held: dict[str, WebSocketProtocol] = {}
    paused = threading.Event()
    original = WebSocketProtocol._deliver

    def deliver(self: WebSocketProtocol, message: str | bytes) -> None:
        original(self, message)
        if self.read_paused:
            paused.set()

    monkeypatch.setattr(WebSocketProtocol, "_deliver", deliver)

    @app.websocket("/idle")
    async def idle(ws: porch.WebSocket) -> None:
        await ws.accept()
        assert ws._io is not None
        held["io"] = ws._io
        await ws.wait_closed()  # never reads

    with live_server(app, ws_max_queue=4, ws_per_message_deflate=False) as server:
        sock = raw_upgrade(server.port, "/idle")
        try:
            frame = masked_frame(0x2, b"x" * 16384)
            sender = threading.Thread(target=_send_many, args=(sock, frame, 2000), daemon=True)
            sender.start()  # 32 MiB: blocks once the kernel's buffers are full
            assert paused.wait(WAIT)
            io = held["io"]
            # the queue limit, plus at most the frames that came in the same read
            assert 4 <= len(io.messages) <= 4 + 256 * 1024 // len(frame)
            assert not io.transport.is_reading()
        finally:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        sender.join(WAIT)


def _send_many(sock: socket.socket, frame: bytes, count: int) -> None:
    try:
        for _ in range(count):
            sock.sendall(frame)
    except OSError:
        pass  # the test closed the socket


def test_wss_over_tls(tmp_path: Path):
    pki = Pki(tmp_path)
    app = porch.App()

    @app.websocket("/ws")
    async def echo(ws: porch.WebSocket) -> None:
        await ws.accept()
        await ws.send(ws.url)
        async for message in ws:
            await ws.send(message)

    with live_server(app, ssl_certfile=pki.cert, ssl_keyfile=pki.key) as server:
        with connect(f"wss://127.0.0.1:{server.port}/ws", ssl=pki.client_context()) as ws:
            assert ws.recv(WAIT) == f"wss://127.0.0.1:{server.port}/ws"
            ws.send("over tls " * 10000)
            assert ws.recv(WAIT) == "over tls " * 10000


def test_parser_keeps_early_upgrade_data_bounded():
    """Bytes after an Upgrade request wait for the protocol that takes over, up to a bound;
    past it, one error event, which stops the connection reading."""
    from porch.errors import ProtocolError
    from porch.http.limits import Limits
    from porch.http.parser import UPGRADE_BUFFER, RequestParser
    from tests.websocket.conftest import handshake_bytes

    parser = RequestParser(Limits())
    events = parser.receive_data(handshake_bytes("/ws") + b"\x81")
    assert len(events) == 2 and parser.upgrade_data == b"\x81"  # the head, END
    assert parser.receive_data(b"\x85hello") == []
    assert parser.upgrade_data == b"\x81\x85hello"
    flood = parser.receive_data(b"x" * UPGRADE_BUFFER)
    assert len(flood) == 1 and isinstance(flood[0], ProtocolError)
    assert parser.receive_data(b"more") == []  # nothing kept past the bound
    assert len(parser.upgrade_data or b"") == UPGRADE_BUFFER + 7


def test_metrics_count_the_upgrade_and_the_open_websocket():
    from tests.autobahn.echo import app
    from tests.server.test_metrics import open_connections, scrape, scrape_until, value

    with live_server(app, metrics_path="/metrics") as server, server.connect() as probe:
        with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            ws.send("hi")
            assert ws.recv(WAIT) == "hi"
            during = scrape(probe)
            assert value(during, "porch_requests_total", method="GET", status="101") == 1
            assert value(during, "porch_requests_in_flight") == 0
            assert open_connections(during) == 2  # the probe's and the WebSocket
        scrape_until(probe, lambda s: open_connections(s) == 1, "the WebSocket counted closed")
