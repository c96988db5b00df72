"""Hosted ASGI WebSocket apps (Starlette, FastAPI) on porch: ``porch serve`` as a subprocess
and the real server in-process."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.hosting.realapps import porch_serve, serve_asgi, wait_until
from tests.websocket.asgiapps import starlette_app
from tests.websocket.conftest import handshake_bytes, read_response

pytestmark = pytest.mark.timeout(45)
WAIT = 10.0


def test_starlette_echo_with_porch_serve():
    with porch_serve("tests.websocket.asgiapps:starlette_app") as served:
        with connect(f"ws://127.0.0.1:{served.port}/ws", subprotocols=["chat"]) as ws:
            assert ws.subprotocol == "chat"
            ws.send("hello")
            assert ws.recv(WAIT) == "hello"
            ws.send(b"\x01\x02")
            assert ws.recv(WAIT) == b"\x01\x02"
            ws.send(["frag", "mented"])
            assert ws.recv(WAIT) == "fragmented"


def test_fastapi_websocket_route_with_porch_serve():
    with porch_serve("tests.websocket.asgiapps:fastapi_app") as served:
        with connect(f"ws://127.0.0.1:{served.port}/items/7?q=red") as ws:
            ws.send(json.dumps({"n": 1}))
            assert json.loads(ws.recv(WAIT)) == {"item": 7, "q": "red", "echo": {"n": 1}}


@pytest.fixture(scope="module")
def hosted():
    with serve_asgi(starlette_app) as server:
        yield server


def test_denial_response_extension(hosted):
    with pytest.raises(InvalidStatus) as info:
        connect(f"ws://127.0.0.1:{hosted.port}/deny")
    assert info.value.response.status_code == 401
    assert info.value.response.body == b"members only\n"


def test_close_before_accept_is_403(hosted):
    with pytest.raises(InvalidStatus) as info:
        connect(f"ws://127.0.0.1:{hosted.port}/close-early")
    assert info.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as info:
        connect(f"ws://127.0.0.1:{hosted.port}/no-such-route")
    assert info.value.response.status_code == 403


def test_app_close_code_and_reason(hosted):
    with connect(f"ws://127.0.0.1:{hosted.port}/goodbye") as ws:
        ws.send("ann")
        assert ws.recv(WAIT) == "bye ann"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(WAIT)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "done")


def test_client_close_reaches_the_app_as_disconnect(hosted):
    with connect(f"ws://127.0.0.1:{hosted.port}/until-gone") as ws:
        ws.send("x")
        ws.close(code=4002)
    wait_until(
        lambda: getattr(starlette_app.state, "last_disconnect", None) == 4002,
        "the app saw websocket.disconnect with the client's code",
    )


def test_bad_handshake_never_reaches_the_app(hosted):
    with hosted.connect() as sock:
        sock.sendall(handshake_bytes("/ws", **{"Sec-WebSocket-Version": "7"}))
        status, headers, body = read_response(sock)
    assert status == 426
    assert headers["sec-websocket-version"] == "13"
