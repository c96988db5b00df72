"""porch.App as an ASGI 3 app: the tutorial pages under uvicorn, and the adapter's edges."""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from porch import (
    App,
    FileResponse,
    HTTPError,
    Request,
    Response,
    StaticFiles,
    StreamingResponse,
)
from porch.interfaces import ASGIApp, asgi_call
from porch.interfaces.asgi_app import build_request
from tests.web.test_app import tutorial_app

START_TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def asgi_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wire ``App.__call__(scope, receive, send)`` to `asgi_call` until app.py does it."""
    if "receive" in inspect.signature(App.__call__).parameters:
        return
    native = App.__call__

    async def call(self: App, request: Any, receive: Any = None, send: Any = None) -> Any:
        if receive is not None:
            return await asgi_call(self, request, receive, send)
        return await native(self, request)

    monkeypatch.setattr(App, "__call__", call)


class _Server(uvicorn.Server):
    """A uvicorn server that tells the test thread when it listens (or failed to start)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()


@contextmanager
def uvicorn_serving(app: Any, http: str = "httptools") -> Iterator[str]:
    """Run `app` under uvicorn on a free port in a thread; yield its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        loop="asyncio",
        http=http,
        lifespan="on",
        ws="none",
        log_level="warning",
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test-server", daemon=True)
    thread.start()
    try:
        assert server.ready.wait(START_TIMEOUT), "uvicorn did not start"
        assert server.started, "uvicorn failed to start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)
        assert not thread.is_alive()


@pytest.fixture(params=["httptools", "h11"])
def client(request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    with (
        uvicorn_serving(tutorial_app(), request.param) as url,
        httpx.Client(base_url=url) as client,
    ):
        yield client


# under uvicorn -------------------------------------------------------------------------------


def test_tutorial_pages(client: httpx.Client) -> None:
    hello = client.get("/")
    assert hello.text == "Hello, World!"
    assert hello.headers["content-type"] == "text/html; charset=utf-8"
    assert hello.headers["content-length"] == "13"
    assert client.get("/echo-param?param=x").text == "Received parameter: x"  # sync handler


def test_path_and_query_parameters(client: httpx.Client) -> None:
    assert client.get("/users/42?verbose=yes").json() == {"id": 42, "verbose": True}
    assert client.get("/search?q=a&tag=x&tag=y").json() == {"q": "a", "page": 1, "tag": ["x", "y"]}
    assert client.get("/users/abc").status_code == 404
    assert client.get("/where").text == "/users/7?verbose=1"


@pytest.mark.parametrize(
    ("url", "loc"),
    [
        ("/search", ["query", "q"]),
        ("/search?q=a&page=two", ["query", "page"]),
        ("/users/1?verbose=maybe", ["query", "verbose"]),
    ],
)
def test_bad_parameters_are_422(client: httpx.Client, url: str, loc: list[str]) -> None:
    response = client.get(url)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_json_body_and_errors(client: httpx.Client) -> None:
    created = client.post("/items", json={"name": "x", "tags": list(range(1000))})
    assert created.status_code == 201
    assert created.json() == {"name": "x", "tags": list(range(1000))}
    assert client.post("/items", content=b"{nope").status_code == 400
    teapot = client.get("/teapot")
    assert (teapot.status_code, teapot.text) == (418, "short and stout\n")


def test_405_head_options_and_slash_redirect(client: httpx.Client) -> None:
    wrong = client.delete("/")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, HEAD, OPTIONS"
    head = client.head("/")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == "13"
    options = client.options("/items")
    assert options.status_code == 204
    assert options.headers["allow"] == "OPTIONS, POST"
    moved = client.get("/docs?x=1")
    assert moved.status_code == 308
    assert moved.headers["location"] == "/docs/?x=1"


def test_startup_and_shutdown_hooks_run_once() -> None:
    app = App()
    events: list[str] = []
    app.on_startup(lambda: events.append("up"))
    app.on_shutdown(lambda: events.append("down"))

    @app.get("/")
    async def home() -> str:
        return ",".join(events)

    with uvicorn_serving(app) as url:
        assert httpx.get(url + "/").text == "up"
        assert httpx.get(url + "/").text == "up"
    assert events == ["up", "down"]


@pytest.fixture
def data_file(tmp_path: Any) -> str:
    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(700_000))  # several 256 KiB reads
    return str(path)


def test_streams_files_ranges_and_uploads(data_file: str) -> None:
    app = App()
    closed: list[str] = []

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def pieces() -> AsyncIterator[str]:
            try:
                for i in range(5):
                    yield f"piece {i}\n"
            finally:
                closed.append("stream")

        return StreamingResponse(pieces(), media_type="text/plain")

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(data_file)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    def chunks() -> Iterator[bytes]:
        for _ in range(50):
            yield b"x" * 10_000

    data = Path(data_file).read_bytes()
    with uvicorn_serving(app) as url, httpx.Client(base_url=url) as client:
        streamed = client.get("/stream")
        assert streamed.text == "".join(f"piece {i}\n" for i in range(5))
        assert streamed.headers["transfer-encoding"] == "chunked"
        assert closed == ["stream"]
        whole = client.get("/file")
        assert whole.status_code == 200
        assert whole.content == data
        assert whole.headers["content-length"] == str(len(data))
        etag = whole.headers["etag"]
        part = client.get("/file", headers={"range": "bytes=100-299999"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 100-299999/{len(data)}"
        assert part.content == data[100:300000]
        tail = client.get("/file", headers={"range": "bytes=-10"})
        assert tail.content == data[-10:]
        many = client.get("/file", headers={"range": "bytes=0-9,20-29"})
        assert many.status_code == 206
        assert data[0:10] in many.content and data[20:30] in many.content
        assert client.get("/file", headers={"if-none-match": etag}).status_code == 304
        head = client.head("/file")
        assert (head.content, head.headers["content-length"]) == (b"", str(len(data)))
        assert client.post("/upload", content=chunks()).json() == {"size": 500_000}


# the adapter's edges, with an in-memory ASGI server ------------------------------------------


def scope_for(method: str = "GET", path: str = "/", **extra: Any) -> dict[str, Any]:
    raw_path, _, query = path.encode().partition(b"?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path.decode(),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"example.com")],
        "client": ("10.0.0.1", 1234),
        "server": ("127.0.0.1", 8000),
    }
    scope.update(extra)
    return scope


class Peer:
    """An in-memory ASGI server side: a queue for receive(), a list of sent messages."""

    def __init__(self, *incoming: dict[str, Any]) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for message in incoming:
            self.queue.put_nowait(message)
        self.sent: list[dict[str, Any]] = []
        self.received = 0

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        return await self.queue.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])


def serve_once(app: Any, scope: dict[str, Any], *incoming: dict[str, Any]) -> Peer:
    async def main() -> Peer:
        peer = Peer(*incoming)
        if isinstance(app, ASGIApp):  # already an ASGI app
            await app(scope, peer.receive, peer.send)
        else:
            await asgi_call(app, scope, peer.receive, peer.send)
        return peer

    return asyncio.run(main())


def request_message(body: bytes = b"", more: bool = False) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


def test_request_is_built_from_the_scope() -> None:
    scope = scope_for("POST", "/?x=1&x=2", raw_path=None)
    scope["path"] = "/a/ü%"  # a server without raw_path: the decoded path is quoted again
    scope["headers"] = [(b"Host", b"h.test"), (b"Content-Length", b"5"), (b"X-A", b"1")]
    request = build_request(scope, Peer().receive)
    assert request.raw_path == b"/a/%C3%BC%25"
    assert request.path == "/a/ü%"
    assert request.query.getlist("x") == ["1", "2"]
    assert request.headers["x-a"] == "1"
    assert (request.host, request.content_length, request.body_kind) == (b"h.test", 5, 1)
    assert request.client == ("10.0.0.1", 1234)
    assert request.url == "http://h.test/a/%C3%BC%25?x=1&x=2"


def test_body_is_pulled_lazily_and_disconnect_ends_it() -> None:
    seen: list[bytes] = []

    async def native(request: Request) -> Response:
        seen.append(await request.body())
        return Response(b"ok")

    peer = serve_once(
        native, scope_for("POST"), request_message(b"ab", True), request_message(b"c")
    )
    assert seen == [b"abc"]
    assert peer.received == 2
    assert peer.sent[0]["status"] == 200 and peer.body == b"ok"

    async def lazy(request: Request) -> Response:
        return Response(b"never read")

    assert serve_once(lazy, scope_for()).received == 0

    disconnect = {"type": "http.disconnect"}
    peer = serve_once(native, scope_for("POST"), request_message(b"ab", True), disconnect)
    assert peer.sent == []  # nobody to answer


def test_bodies_for_head_no_content_and_errors() -> None:
    async def native(request: Request) -> Response:
        if request.path == "/gone":
            raise HTTPError(410, "gone away")
        if request.path == "/empty":
            return Response(b"", 204)
        return Response(b"hello", headers={"content-length": "99", "connection": "close"})

    head = serve_once(native, scope_for("HEAD"))
    assert head.headers == {b"content-length": b"5"}
    assert head.body == b""
    empty = serve_once(native, scope_for(path="/empty"))
    assert (empty.sent[0]["status"], empty.headers, empty.body) == (204, {}, b"")
    gone = serve_once(native, scope_for(path="/gone"))
    assert (gone.sent[0]["status"], gone.body) == (410, b"gone away\n")


def test_file_bodies_use_pathsend_when_offered(data_file: str) -> None:
    app = ASGIApp(lambda request: _file(data_file))
    offered = scope_for(extensions={"http.response.pathsend": {}})
    peer = serve_once(app, offered)
    assert peer.sent[1] == {"type": "http.response.pathsend", "path": data_file}
    assert peer.headers[b"content-length"] == str(os.path.getsize(data_file)).encode()
    ranged = dict(offered, headers=[(b"range", b"bytes=1-3")])
    peer = serve_once(app, ranged)
    assert peer.sent[0]["status"] == 206
    assert peer.body == Path(data_file).read_bytes()[1:4]
    assert peer.sent[-1]["more_body"] is False


async def _file(path: str) -> Response:
    return FileResponse(path)


def test_stream_stops_when_the_client_disconnects() -> None:
    closed = asyncio.Event()

    async def forever() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"tick"
                await asyncio.sleep(0)
        finally:
            closed.set()

    async def native(request: Request) -> Response:
        return StreamingResponse(forever())

    async def main() -> Peer:
        peer = Peer(request_message())

        async def send(message: dict[str, Any]) -> None:
            peer.sent.append(message)
            if len(peer.sent) == 4:
                peer.queue.put_nowait({"type": "http.disconnect"})

        await asgi_call(native, scope_for(), peer.receive, send)
        return peer

    peer = asyncio.run(main())
    assert closed.is_set()
    assert len(peer.sent) >= 4
    assert all(m.get("more_body") for m in peer.sent[1:])


def test_lifespan_runs_hooks_copies_state_and_reports_failures() -> None:
    app = App()
    events: list[str] = []
    app.on_startup(lambda: events.append("up"))
    app.on_shutdown(lambda: events.append("down"))
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {"pool": "P"}}
    peer = serve_once(app, scope, {"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
    assert [m["type"] for m in peer.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    assert events == ["up", "down"]
    assert vars(app.state) == {"pool": "P"}

    broken = App()

    @broken.on_startup
    async def fail() -> None:
        raise RuntimeError("no database")

    peer = serve_once(broken, {"type": "lifespan"}, {"type": "lifespan.startup"})
    assert peer.sent == [{"type": "lifespan.startup.failed", "message": "no database"}]


def test_unknown_scopes_are_refused() -> None:
    with pytest.raises(ValueError, match="webtransport"):
        serve_once(App(), {"type": "webtransport"})


def test_websocket_scopes_are_refused_with_a_close() -> None:
    """WebSocket routes need porch's own server: under another one the handshake is refused
    (a close before accept: the server answers 403), never an exception."""
    peer = serve_once(App(), {"type": "websocket"}, {"type": "websocket.connect"})
    assert peer.sent == [{"type": "websocket.close", "code": 1008}]


def test_a_stream_may_read_the_body_while_it_is_sent() -> None:
    async def echo(request: Request) -> Response:
        async def upper() -> AsyncIterator[bytes]:
            async for chunk in request.stream():
                yield chunk.upper()

        return StreamingResponse(upper(), status=HTTPStatus.ACCEPTED)

    async def main() -> Peer:
        peer = Peer()

        async def send(message: dict[str, Any]) -> None:
            peer.sent.append(message)
            if message["type"] == "http.response.start":  # the body arrives after the head
                peer.queue.put_nowait(request_message(b"ab", True))
                peer.queue.put_nowait(request_message(b"cd"))

        await asgi_call(echo, scope_for("POST"), peer.receive, send)
        return peer

    peer = asyncio.run(main())
    assert peer.sent[0]["status"] == 202
    assert peer.body == b"ABCD"
    assert peer.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


def test_for_request_errors_close_the_original_stream() -> None:
    closed: list[bool] = []

    class Refusing(StreamingResponse):
        def for_request(self, request: Request) -> Response:
            raise HTTPError(416, "no such range")

    async def pieces() -> AsyncGenerator[bytes, None]:
        try:
            yield b"never"
        finally:
            closed.append(True)

    async def native(request: Request) -> Response:
        stream = pieces()
        await stream.asend(None)  # started: closing it runs its finally
        return Refusing(stream)

    peer = serve_once(native, scope_for())
    assert (peer.sent[0]["status"], peer.body) == (416, b"no such range\n")
    assert closed == [True]


def test_any_native_app_runs_under_uvicorn(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hi from disk")
    with uvicorn_serving(ASGIApp(StaticFiles(tmp_path))) as url:
        response = httpx.get(url + "/hello.txt")
        assert (response.status_code, response.text) == (200, "hi from disk")
        assert httpx.get(url + "/missing").status_code == 404


def test_an_endless_stream_ends_when_the_client_leaves() -> None:
    app = App()
    closed = threading.Event()

    @app.get("/events")
    async def events() -> StreamingResponse:
        async def ticks() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"data: tick\n\n"
                    await asyncio.sleep(0)
            finally:
                closed.set()

        return StreamingResponse(ticks(), media_type="text/event-stream")

    with uvicorn_serving(app) as url, httpx.Client(base_url=url) as client:
        with client.stream("GET", "/events") as response:
            assert next(response.iter_bytes()).startswith(b"data: tick")
        assert closed.wait(START_TIMEOUT)
