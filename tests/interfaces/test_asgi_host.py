"""porch hosting ASGI apps, checked against the ASGI 3 spec (HTTP and lifespan scopes).

Every app here is a bare ASGI callable written to the spec, served by the real server on a
real socket; the assertions are about what the spec promises the app and the client.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from porch.errors import ConfigError
from porch.interfaces import ASGIHost, adapt, detect
from porch.web.testing import live_server
from tests.conftest import Reader, exchange, read_response

Scope = dict[str, Any]
Message = dict[str, Any]


def serve(app: Any, **config: Any) -> Any:
    kwargs = {k: config.pop(k) for k in ("root_path", "lifespan") if k in config}
    return live_server(adapt(app, "auto", **kwargs), **config)


async def text(send: Any, body: bytes, status: int = 200) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


# the http scope ----------------------------------------------------------------------------


def recording_app(seen: list[Scope]) -> Callable[..., Any]:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        seen.append(scope)
        await text(send, b"ok")

    return app


def test_detect_tells_the_interfaces_apart() -> None:
    async def asgi3(scope: Scope, receive: Any, send: Any) -> None: ...

    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        return []

    class ASGI2:
        def __init__(self, scope: Scope) -> None: ...

    class Asgi3Callable:
        async def __call__(self, scope: Scope, receive: Any, send: Any) -> None: ...

    async def native(request: Any) -> Any: ...

    def varargs(*args: Any) -> None: ...

    assert detect(asgi3) == "asgi3"
    assert detect(Asgi3Callable()) == "asgi3"
    assert detect(wsgi) == "wsgi"
    assert detect(ASGI2) == "asgi2"
    assert detect(native) == "porch"
    assert detect(varargs) == "unknown"
    with pytest.raises(ConfigError, match="--interface"):
        adapt(varargs)


def test_scope_has_every_key_with_the_spec_types() -> None:
    seen: list[Scope] = []
    with serve(recording_app(seen)) as srv:
        raw = (
            b"GET /caf%C3%A9/a%2Fb?q=%20x&y=1 HTTP/1.1\r\nHost: example.test\r\n"
            b"X-Multi: 1\r\nX-Multi: 2\r\nUser-Agent: spec\r\nConnection: close\r\n\r\n"
        )
        assert exchange(srv.port, raw).startswith(b"HTTP/1.1 200 ")
    (scope,) = seen
    assert scope["type"] == "http"
    assert scope["asgi"]["version"] == "3.0"
    assert scope["asgi"]["spec_version"] in ("2.3", "2.4")
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/café/a/b"  # percent-decoded, UTF-8
    assert scope["raw_path"] == b"/caf%C3%A9/a%2Fb"
    assert scope["query_string"] == b"q=%20x&y=1"
    assert scope["root_path"] == ""
    headers = [tuple(pair) for pair in scope["headers"]]
    assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in headers)
    assert all(n == n.lower() for n, _ in headers)
    assert (b"x-multi", b"1") in headers and (b"x-multi", b"2") in headers
    assert (b"host", b"example.test") in headers
    host, port = scope["client"]
    assert host == "127.0.0.1" and isinstance(port, int)
    assert tuple(scope["server"]) == ("127.0.0.1", srv.port)
    assert isinstance(scope["state"], dict)
    assert "http.response.pathsend" in scope["extensions"]


def test_http_1_0_and_methods_are_reported_as_sent() -> None:
    seen: list[Scope] = []
    with serve(recording_app(seen)) as srv:
        exchange(srv.port, b"DELETE /x HTTP/1.0\r\n\r\n")
    assert seen[0]["http_version"] == "1.0"
    assert seen[0]["method"] == "DELETE"


@pytest.mark.parametrize(
    ("target", "path", "raw_path"),
    [("/users/1", "/api/users/1", b"/api/users/1"), ("/api/users/1", "/api/users/1", None)],
)
def test_root_path_is_prefixed_to_path_once(
    target: str, path: str, raw_path: bytes | None
) -> None:
    seen: list[Scope] = []
    with serve(recording_app(seen), root_path="/api") as srv:
        assert httpx.get(f"http://127.0.0.1:{srv.port}{target}").status_code == 200
    assert seen[0]["root_path"] == "/api"
    assert seen[0]["path"] == path
    assert seen[0]["raw_path"] == (raw_path or target.encode())


# the request body --------------------------------------------------------------------------


def body_echo_app(messages: list[Message]) -> Callable[..., Any]:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        digest = hashlib.sha256()
        size = 0
        while True:
            message = await receive()
            messages.append({k: v for k, v in message.items() if k != "body"})
            assert message["type"] == "http.request"
            digest.update(message["body"])
            size += len(message["body"])
            if not message.get("more_body", False):
                break
        await text(send, f"{size} {digest.hexdigest()}".encode())

    return app


def test_chunked_body_arrives_in_pieces_with_more_body() -> None:
    messages: list[Message] = []
    pieces = [b"a" * 1000, b"b" * 70000, b"c"]
    with serve(body_echo_app(messages)) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(b"POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in pieces:
                sock.sendall(b"%x\r\n%b\r\n" % (len(piece), piece))
            sock.sendall(b"0\r\n\r\n")
            status, _, body = read_response(sock)
    whole = b"".join(pieces)
    assert status == 200
    assert body == f"{len(whole)} {hashlib.sha256(whole).hexdigest()}".encode()
    assert messages[-1]["more_body"] is False
    assert all(m["more_body"] is True for m in messages[:-1])


def test_large_body_with_content_length_is_received_whole() -> None:
    data = bytes(range(256)) * 8192  # 2 MiB
    with serve(body_echo_app([])) as srv:
        response = httpx.post(f"http://127.0.0.1:{srv.port}/", content=data)
    assert response.text == f"{len(data)} {hashlib.sha256(data).hexdigest()}"


def test_request_without_body_gets_one_empty_message() -> None:
    messages: list[Message] = []
    with serve(body_echo_app(messages)) as srv:
        assert httpx.get(f"http://127.0.0.1:{srv.port}/").text.startswith("0 ")
    assert messages == [{"type": "http.request", "more_body": False}]


def test_client_leaving_mid_body_is_http_disconnect() -> None:
    got: list[str] = []
    done = threading.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                got.append(message["type"])
                done.set()
                return

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
            # The app has the first bytes; now the client goes away.
        assert done.wait(5)
    assert got == ["http.disconnect"]


# the response ------------------------------------------------------------------------------


def test_streamed_response_leaves_as_it_is_produced() -> None:
    release: asyncio.Event | None = None

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        nonlocal release
        if scope["type"] != "http":
            return
        if scope["path"] == "/release":
            assert release is not None
            release.set()
            await text(send, b"released")
            return
        release = asyncio.Event()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": b"second", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            seen = b""
            while b"first" not in seen:
                seen += sock.recv(65536)  # the first chunk arrives before the app goes on
            assert b"transfer-encoding: chunked" in seen
            assert httpx.get(f"http://127.0.0.1:{srv.port}/release").text == "released"
            reader = Reader(sock)
            reader.buf = seen.partition(b"\r\n\r\n")[2]
            rest = b""
            while not rest.endswith(b"0\r\n\r\n"):
                rest += reader._take(1)
    assert b"second" in rest


def test_complete_response_leaves_while_the_app_runs_on() -> None:
    release: asyncio.Event | None = None
    finished = threading.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        nonlocal release
        if scope["type"] != "http":
            return
        if scope["path"] == "/release":
            assert release is not None
            release.set()
            await text(send, b"released")
            return
        release = asyncio.Event()
        await text(send, b"answered")
        await release.wait()  # background work after the response (FastAPI's tasks)
        finished.set()

    with serve(app) as srv:
        with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=5) as client:
            assert client.get("/work").text == "answered"
            assert not finished.is_set()
            assert client.get("/release").text == "released"
        assert finished.wait(5)


def test_app_runs_in_a_task_from_its_first_step() -> None:
    tasks: list[object] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        tasks.append(asyncio.current_task())  # anyio's cancel scopes need one
        await text(send, b"ok")

    with serve(app) as srv:
        assert httpx.get(f"http://127.0.0.1:{srv.port}/").text == "ok"
    assert tasks and tasks[0] is not None


def test_response_with_content_length_streams_without_chunking() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"6")]}
        )
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"def"})

    with serve(app) as srv:
        response = httpx.get(f"http://127.0.0.1:{srv.port}/")
    assert response.content == b"abcdef"
    assert response.headers["content-length"] == "6"
    assert "transfer-encoding" not in response.headers


def test_slow_reader_makes_the_app_wait_instead_of_buffering() -> None:
    produced = 0
    blocked = threading.Event()
    total = 64 * 1024 * 1024
    piece = b"x" * 65536

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        nonlocal produced
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while produced < total:
            task = asyncio.ensure_future(
                send({"type": "http.response.body", "body": piece, "more_body": True})
            )
            await asyncio.wait([task], timeout=0.5)
            if not task.done():
                blocked.set()  # send() is holding the app back
                await task
            produced += len(piece)
        await send({"type": "http.response.body", "body": b""})

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert blocked.wait(10), "the app was never made to wait"
            assert produced < 16 * 1024 * 1024  # bounded by socket buffers + high water
            received = 0
            while data := sock.recv(1 << 20):
                received += len(data)
    assert received > total  # every byte arrives once the client reads


def test_client_leaving_mid_stream_makes_send_raise_oserror() -> None:
    raised: list[BaseException] = []
    done = threading.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x" * 4096, "more_body": True})
                await asyncio.sleep(0.001)
        except OSError as exc:
            raised.append(exc)
        finally:
            done.set()

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100)
        assert done.wait(5)
    assert len(raised) == 1


def test_receive_after_the_body_waits_for_the_client_to_leave() -> None:
    got: list[str] = []
    done = threading.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()  # the (empty) body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"waiting", "more_body": True})
        message = await receive()  # blocks until the client goes away
        got.append(message["type"])
        done.set()

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            seen = b""
            while b"waiting" not in seen:
                seen += sock.recv(100)
            assert not done.is_set()
        assert done.wait(5)
    assert got == ["http.disconnect"]


def test_receive_after_a_complete_response_is_http_disconnect() -> None:
    got: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        await text(send, b"done")
        got.append((await receive())["type"])

    with serve(app) as srv:
        assert httpx.get(f"http://127.0.0.1:{srv.port}/").text == "done"
    assert got == ["http.disconnect"]


def test_pathsend_sends_the_file(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 4096 * 2  # 2 MiB: over the inline size, so sendfile
    path.write_bytes(data)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        assert "http.response.pathsend" in scope["extensions"]
        headers = [(b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": str(path)})

    with serve(app) as srv:
        response = httpx.get(f"http://127.0.0.1:{srv.port}/")
    assert response.content == data


def test_trailers_follow_the_chunked_body() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        assert "http.response.trailers" in scope["extensions"]
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"data", "more_body": True})
        await send({"type": "http.response.body", "body": b"!"})
        trailers = [(b"x-checksum", b"abc"), (b"content-length", b"99")]
        await send({"type": "http.response.trailers", "headers": trailers, "more_trailers": True})
        await send({"type": "http.response.trailers", "headers": [(b"x-more", b"1")]})

    with serve(app) as srv:
        raw = exchange(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    data, _, trailer = body.partition(b"0\r\n")  # one or two chunks, then the last one
    assert data.replace(b"\r\n", b"") in (b"5data!", b"4data1!")
    assert trailer == b"x-checksum: abc\r\nx-more: 1\r\n\r\n"  # content-length dropped


def test_unannounced_trailers_are_logged_and_the_response_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await text(send, b"whole")
        await send({"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]})

    with serve(app) as srv:
        assert httpx.get(f"http://127.0.0.1:{srv.port}/").text == "whole"
    assert "'http.response.trailers' needs 'trailers': true" in caplog.text


def test_head_keeps_the_apps_content_length() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-length", b"1234"), (b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            reader = Reader(sock)
            status, headers, body = reader.response(head_only=True)
            assert (status, headers["content-length"], body) == (200, "1234", b"")


MISUSE: dict[str, list[Message]] = {
    "body before start": [{"type": "http.response.body", "body": b"x"}],
    "two starts": [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.start", "status": 200, "headers": []},
    ],
    "invalid status": [{"type": "http.response.start", "status": 42, "headers": []}],
    "str header": [{"type": "http.response.start", "status": 200, "headers": [("a", "b")]}],
    "CRLF in header": [
        {"type": "http.response.start", "status": 200, "headers": [(b"a", b"b\r\nx: y")]}
    ],
    "unknown message": [{"type": "http.response.bogus"}],
    "str body": [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.body", "body": "text"},
    ],
    "no response": [],
    "start only": [{"type": "http.response.start", "status": 200, "headers": []}],
}


@pytest.mark.parametrize("case", sorted(MISUSE))
def test_protocol_misuse_is_a_logged_500_and_the_connection_goes_on(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/ok":
            await text(send, b"fine")
            return
        for message in MISUSE[case]:
            await send(message)

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(b"GET /bad HTTP/1.1\r\nHost: x\r\n\r\n")
            reader = Reader(sock)
            status, _, body = reader.response()
            assert status == 500
            assert b"\r\n" not in body.strip()  # no header smuggled into the body either
            sock.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            assert reader.response()[2] == b"fine"
    assert any(record.levelname == "ERROR" for record in caplog.records)


def test_exception_after_the_head_left_ends_the_connection() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        await asyncio.sleep(0)
        raise RuntimeError("boom mid-stream")

    with serve(app) as srv:
        raw = exchange(srv.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert b"partial" in raw
    assert not raw.endswith(b"0\r\n\r\n")  # no false end of body


# lifespan ----------------------------------------------------------------------------------


def lifespan_app(
    events: list[str], *, fail: str | None = None, state_key: str = "greeting"
) -> Callable[..., Any]:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    if fail == "startup":
                        await send({"type": "lifespan.startup.failed", "message": "no db"})
                        return
                    scope["state"][state_key] = "hello from startup"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        state = scope["state"]
        state["mutated"] = True  # a request's copy: never seen by the next one
        await text(send, str(sorted(state.items())).encode())

    return app


def test_lifespan_runs_startup_and_shutdown_and_shares_state() -> None:
    events: list[str] = []
    with serve(lifespan_app(events)) as srv:
        assert events == ["lifespan.startup"]
        for _ in range(2):
            body = httpx.get(f"http://127.0.0.1:{srv.port}/").text
            assert "('greeting', 'hello from startup')" in body
    assert events == ["lifespan.startup", "lifespan.shutdown"]


def test_lifespan_startup_failure_stops_the_server_with_the_message() -> None:
    with pytest.raises(RuntimeError, match="no db"):
        with serve(lifespan_app([], fail="startup")):
            pass


def test_app_without_lifespan_support_runs_in_auto_and_fails_with_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError("only http here")  # what Django's ASGIHandler does
        await text(send, b"served")

    with serve(app) as srv:
        assert httpx.get(f"http://127.0.0.1:{srv.port}/").text == "served"
    with pytest.raises(RuntimeError, match="only http here"):
        with serve(app, lifespan="on"):
            pass
    events: list[str] = []
    with serve(lifespan_app(events), lifespan="off") as srv:
        assert httpx.get(f"http://127.0.0.1:{srv.port}/").status_code == 200
    assert events == []


def test_asgi2_app_is_served() -> None:
    class App:
        def __init__(self, scope: Scope) -> None:
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            if self.scope["type"] == "http":
                await text(send, b"asgi2 " + self.scope["raw_path"])

    with serve(App) as srv:
        assert httpx.get(f"http://127.0.0.1:{srv.port}/p").text == "asgi2 /p"


def test_many_concurrent_requests_each_get_their_own_answer() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(0.01)
        await text(send, scope["query_string"])

    async def run(port: int) -> list[str]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            responses = await asyncio.gather(*(client.get(f"/?{i}") for i in range(200)))
        return [r.text for r in responses]

    with serve(app) as srv:
        assert asyncio.run(run(srv.port)) == [str(i) for i in range(200)]


@pytest.fixture
def host() -> Iterator[ASGIHost]:
    async def app(scope: Scope, receive: Any, send: Any) -> None: ...

    yield ASGIHost(app)


def test_wrong_lifespan_mode_is_a_config_error(host: ASGIHost) -> None:
    with pytest.raises(ConfigError, match="lifespan"):
        ASGIHost(host.app, lifespan="maybe")
