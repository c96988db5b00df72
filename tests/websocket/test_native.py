"""``@app.websocket`` routes on the real server, driven by the `websockets` client library
and by raw sockets for clients that misbehave."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import porch
from porch.web.testing import live_server
from porch.websocket.protocol import WebSocketProtocol
from tests.websocket.conftest import (
    handshake_bytes,
    masked_frame,
    raw_upgrade,
    read_frame,
    read_response,
)

pytestmark = pytest.mark.timeout(30)
WAIT = 10.0


def make_app() -> tuple[porch.App, dict[str, Any]]:
    app = porch.App()
    seen: dict[str, Any] = {"ended": threading.Event(), "codes": []}
    rooms: dict[str, set[porch.WebSocket]] = {}

    @app.before_request
    def who(request: porch.Request) -> None:
        # what a session middleware would do: state for the handler, from a cookie
        request.state.user = request.cookies.get("user", "anonymous")

    @app.websocket("/ws")
    async def echo(ws: porch.WebSocket) -> None:
        await ws.accept(subprotocol="chat" if "chat" in ws.subprotocols else None)
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            seen["codes"].append(ws.close_code)
            seen["ended"].set()

    @app.websocket("/rooms/{room}")
    async def chat(ws: porch.WebSocket, room: str, name: str = "guest") -> None:
        await ws.accept()
        members = rooms.setdefault(room, set())
        members.add(ws)
        try:
            await ws.send_json({"joined": room, "as": name, "user": ws.state.user})
            async for message in ws:
                for other in list(members):
                    if other is not ws:
                        await other.send(f"{name}: {message}")
        finally:
            members.discard(ws)

    add_edge_routes(app, seen)
    add_blueprint(app)
    return app, seen


def add_blueprint(app: porch.App) -> None:
    """A blueprint's WebSocket route, behind the blueprint's own hook and middleware."""
    bp = porch.Blueprint("live", url_prefix="/live")

    @bp.before_request
    def tag(request: porch.Request) -> None:
        request.state.tag = "from the blueprint hook"

    @bp.middleware
    async def refuse_banned(request: porch.Request, call_next: Any) -> porch.Response:
        if request.query.get("banned"):
            return porch.PlainTextResponse("banned\n", 403)
        return await call_next(request)

    @bp.websocket("/feed/{n:int}", name="feed")
    async def feed(ws: porch.WebSocket, n: int) -> None:
        await ws.accept()
        await ws.send_json({"n": n, "tag": ws.state.tag, "params": ws.path_params})

    app.include(bp)


def add_edge_routes(app: porch.App, seen: dict[str, Any]) -> None:
    """Routes that close, refuse, crash or check the origin."""

    @app.websocket("/bye")
    async def bye(ws: porch.WebSocket) -> None:
        await ws.accept()
        await ws.close(4000, "see you")

    @app.websocket("/refuse")
    async def refuse(ws: porch.WebSocket) -> None:
        await ws.close()

    @app.websocket("/private")
    async def private(ws: porch.WebSocket, token: str | None = None) -> None:
        if token != "s3cret":
            raise porch.HTTPError(401, "a token is required")
        await ws.accept()
        await ws.send("welcome")

    @app.websocket("/crash")
    async def crash(ws: porch.WebSocket) -> None:
        await ws.accept()
        await ws.receive()
        raise RuntimeError("boom")

    @app.websocket("/origin", origins=["https://good.example"])
    async def origin(ws: porch.WebSocket) -> None:
        await ws.accept()
        await ws.send("ok")

    @app.websocket("/cookies")
    async def cookies(ws: porch.WebSocket) -> None:
        await ws.accept(headers=[("set-cookie", "a=1"), ("set-cookie", "b=2")])
        await ws.send(ws.request.cookies.get("seen", "none"))

    @app.websocket("/late")
    async def late(ws: porch.WebSocket) -> None:
        await ws.request.wait_disconnected()  # the client leaves before we accept
        try:
            await ws.accept()
        except porch.WebSocketDisconnect as exc:
            seen["late"] = exc.code
            seen["ended"].set()

    @app.get("/rooms/{room}")
    def page(room: str) -> str:
        return f"<p>room {room}</p>"


@pytest.fixture(scope="module")
def served():
    app, seen = make_app()
    with live_server(app) as server:
        yield server, seen


def url(server: Any, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def test_echo_text_binary_and_fragmented(served):
    server, _ = served
    with connect(url(server, "/ws")) as ws:
        ws.send("héllo")
        assert ws.recv(WAIT) == "héllo"
        ws.send(b"\x00\xff" * 1000)
        assert ws.recv(WAIT) == b"\x00\xff" * 1000
        ws.send(["frag", "ment", "ed ✓"])  # one text message in three frames
        assert ws.recv(WAIT) == "fragmented ✓"
        ws.send([b"a", b"b"])
        assert ws.recv(WAIT) == b"ab"
        big = "x" * 500_000
        ws.send(big)
        assert ws.recv(WAIT) == big


def test_permessage_deflate_is_negotiated(served):
    server, _ = served
    with connect(url(server, "/ws")) as ws:
        assert "permessage-deflate" in ws.response.headers["sec-websocket-extensions"]
        ws.send("z" * 100_000)
        assert ws.recv(WAIT) == "z" * 100_000
    with connect(url(server, "/ws"), compression=None) as ws:
        assert "sec-websocket-extensions" not in ws.response.headers


def test_subprotocol_negotiation(served):
    server, _ = served
    with connect(url(server, "/ws"), subprotocols=["other", "chat"]) as ws:
        assert ws.subprotocol == "chat"
    with connect(url(server, "/ws")) as ws:
        assert ws.subprotocol is None


def test_chat_between_two_clients_with_path_params_and_state(served):
    server, _ = served
    with (
        connect(
            url(server, "/rooms/lobby?name=ann"), additional_headers={"cookie": "user=a1"}
        ) as ann,
        connect(url(server, "/rooms/lobby?name=bob")) as bob,
    ):
        assert json.loads(ann.recv(WAIT)) == {"joined": "lobby", "as": "ann", "user": "a1"}
        assert json.loads(bob.recv(WAIT)) == {"joined": "lobby", "as": "bob", "user": "anonymous"}
        ann.send("hi bob")
        assert bob.recv(WAIT) == "ann: hi bob"
        bob.send("hi ann")
        assert ann.recv(WAIT) == "bob: hi ann"


def test_plain_get_to_a_websocket_route_is_426(served):
    server, _ = served
    with server.connect() as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = read_response(sock)
    assert status == 426
    assert headers["upgrade"] == "websocket"
    assert b"WebSocket client" in body


def test_blueprint_route_with_its_hook_and_middleware(served):
    server, _ = served
    with connect(url(server, "/live/feed/3")) as ws:
        assert json.loads(ws.recv(WAIT)) == {
            "n": 3,
            "tag": "from the blueprint hook",
            "params": {"n": 3},
        }
    with pytest.raises(InvalidStatus) as info:
        connect(url(server, "/live/feed/3?banned=1"))
    assert info.value.response.status_code == 403
    assert info.value.response.body == b"banned\n"


def test_rate_limit_on_a_websocket_route():
    from porch.security import rate_limit

    app = porch.App()

    @app.websocket("/limited")
    @rate_limit("2/minute")
    async def limited(ws: porch.WebSocket) -> None:
        await ws.accept()
        await ws.send("in")

    with live_server(app) as server:
        for _ in range(2):
            with connect(url(server, "/limited")) as ws:
                assert ws.recv(WAIT) == "in"
        with pytest.raises(InvalidStatus) as info:
            connect(url(server, "/limited"))
    assert info.value.response.status_code == 429


def test_same_path_serves_a_page_over_http(served):
    server, _ = served
    import httpx

    response = httpx.get(f"http://127.0.0.1:{server.port}/rooms/lobby")
    assert response.status_code == 200
    assert response.text == "<p>room lobby</p>"


def test_accept_headers_and_cookies(served):
    server, _ = served
    with connect(url(server, "/cookies"), additional_headers={"cookie": "seen=yes"}) as ws:
        assert ws.response.headers.get_all("set-cookie") == ["a=1", "b=2"]
        assert ws.recv(WAIT) == "yes"


def test_client_leaving_before_accept(served):
    server, seen = served
    seen["ended"].clear()
    with server.connect() as sock:
        sock.sendall(handshake_bytes("/late"))
    assert seen["ended"].wait(WAIT)
    assert seen["late"] == 1006


def test_server_initiated_close(served):
    server, _ = served
    with connect(url(server, "/bye")) as ws:
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(WAIT)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "see you")


def test_refused_before_accept_is_403_and_http_error_keeps_its_status(served):
    server, _ = served
    with pytest.raises(InvalidStatus) as info:
        connect(url(server, "/refuse"))
    assert info.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as info:
        connect(url(server, "/private"))
    assert info.value.response.status_code == 401
    assert b"a token is required" in info.value.response.body
    with connect(url(server, "/private?token=s3cret")) as ws:
        assert ws.recv(WAIT) == "welcome"


def test_handler_exception_closes_1011(served):
    server, _ = served
    with connect(url(server, "/crash")) as ws:
        ws.send("go")
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(WAIT)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1011


def test_origin_hook(served):
    server, _ = served
    with pytest.raises(InvalidStatus) as info:
        connect(url(server, "/origin"), origin="https://evil.example")
    assert info.value.response.status_code == 403
    with connect(url(server, "/origin"), origin="https://good.example") as ws:
        assert ws.recv(WAIT) == "ok"


@pytest.mark.parametrize(
    ("fields", "status", "needle"),
    [
        ({"Sec-WebSocket-Version": "8"}, 426, b"version 13"),
        ({"Sec-WebSocket-Key": None}, 400, b"Sec-WebSocket-Key"),
        ({"Sec-WebSocket-Key": "c2hvcnQ="}, 400, b"16 random bytes"),
        (
            {
                "Upgrade": "websocket",
                "Connection": "upgrade, keep-alive",
                "Sec-WebSocket-Key": "!",
            },
            400,
            b"Sec-WebSocket-Key",
        ),
    ],
)
def test_malformed_handshakes_get_a_clear_4xx(served, fields, status, needle):
    server, _ = served
    with server.connect() as sock:
        sock.sendall(handshake_bytes("/ws", **fields))
        got, headers, body = read_response(sock)
    assert got == status, body
    assert needle in body
    if status == 426:
        assert headers["sec-websocket-version"] == "13"


def test_invalid_utf8_closes_1007_and_unmasked_frame_1002(served):
    server, _ = served
    with raw_upgrade(server.port) as sock:
        invalid = "κόσμε".encode() + b"\xed\xa0\x80"  # a UTF-16 surrogate: not UTF-8
        sock.sendall(masked_frame(0x1, invalid))
        opcode, payload = read_frame(sock)
        assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == 1007
    with raw_upgrade(server.port) as sock:
        sock.sendall(b"\x81\x02hi")  # a client frame without a mask
        opcode, payload = read_frame(sock)
        assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == 1002


def test_client_vanishing_without_close_frame_ends_the_handler(served):
    server, seen = served
    seen["ended"].clear()
    with raw_upgrade(server.port) as sock:
        sock.sendall(masked_frame(0x1, b"ping?"))
        assert read_frame(sock) == (0x1, b"ping?")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # the socket is reset without a close frame: the handler's loop ends with 1006
    assert seen["ended"].wait(WAIT)
    assert seen["codes"][-1] == 1006
    state = server.server._state
    assert not any(isinstance(c, WebSocketProtocol) for c in list(state.connections))


def test_message_over_the_size_limit_closes_1009():
    app, _ = make_app()
    with live_server(app, ws_max_size=1000) as server:
        with connect(url(server, "/ws"), compression=None) as ws:
            ws.send("a" * 1000)
            assert ws.recv(WAIT) == "a" * 1000
            ws.send("a" * 1001)
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(WAIT)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009


def test_keepalive_ping_timeout_closes_a_silent_client():
    app, seen = make_app()
    with live_server(app, ws_ping_interval=1, ws_ping_timeout=1) as server:
        with raw_upgrade(server.port) as sock:
            opcode, _ = read_frame(sock)
            assert opcode == 0x9  # a ping, which this client never answers
            opcode, payload = read_frame(sock)
            assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == 1011
            assert b"ping timeout" in payload
        assert seen["ended"].wait(WAIT)
        # a client that answers pings stays connected across several intervals
        with connect(url(server, "/ws"), ping_interval=None) as ws:
            ws.send("still here")
            assert ws.recv(WAIT) == "still here"


def test_slow_reader_blocks_send_and_keeps_the_buffer_bounded(monkeypatch):
    app = porch.App()
    message = b"m" * (256 * 1024)
    progress = {"sent": 0, "max_buffer": 0}
    paused = threading.Event()
    finished = threading.Event()
    original = WebSocketProtocol.pause_writing

    def pause_writing(self: WebSocketProtocol) -> None:
        original(self)
        paused.set()

    monkeypatch.setattr(WebSocketProtocol, "pause_writing", pause_writing)

    @app.websocket("/flood")
    async def flood(ws: porch.WebSocket) -> None:
        await ws.accept()
        io = ws._io
        assert io is not None
        for _ in range(400):  # 100 MiB if nothing pushed back
            await ws.send(message)
            progress["sent"] += 1
            size = io.transport.get_write_buffer_size()
            progress["max_buffer"] = max(progress["max_buffer"], size)
        finished.set()

    with live_server(app, ws_per_message_deflate=False) as server:
        with raw_upgrade(server.port, "/flood", rcvbuf=64 * 1024) as sock:
            assert paused.wait(WAIT)
            # the handler is held in send(): far fewer messages left than it wants to send
            assert not finished.is_set()
            assert progress["sent"] < 100
            # the server never holds more than its high-water mark plus one message
            assert progress["max_buffer"] <= 64 * 1024 + len(message) + 1024
            # reading everything lets the handler finish
            total = 0
            while total < 400:
                opcode, payload = read_frame(sock)
                assert opcode == 0x2
                total += 1
            assert finished.wait(WAIT)


def test_graceful_shutdown_closes_with_1001():
    app, _ = make_app()
    with live_server(app) as server:
        with connect(url(server, "/ws")) as ws:
            ws.send("before")
            assert ws.recv(WAIT) == "before"
            server.server.stop()
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(WAIT)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1001


def test_plain_native_app_contract():
    """A native app without the framework: is_websocket, WebSocket(request), accept."""

    async def app(request: porch.Request) -> porch.Response | None:
        if porch.is_websocket(request):
            ws = porch.WebSocket(request)
            await ws.accept()
            async for message in ws:
                await ws.send(message * 2)
            return None  # ignored after an accepted upgrade
        return porch.PlainTextResponse("plain http\n")

    with live_server(app) as server:
        with connect(url(server, "/anything")) as ws:
            ws.send("ab")
            assert ws.recv(WAIT) == "abab"
        with server.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, body = read_response(sock)
        assert (status, body) == (200, b"plain http\n")


def test_accept_outside_porch_server_is_a_clear_error():
    request = porch.Request.build(
        "GET",
        "/ws",
        [
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-version", "13"),
        ],
    )
    with pytest.raises(RuntimeError, match="cannot switch to WebSocket"):
        asyncio.run(porch.WebSocket(request).accept())
