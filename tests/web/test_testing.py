"""`porch.web.testing`: the in-process TestClient answers as the real server does."""

from __future__ import annotations

import httpx
import pytest

from porch import App, FileResponse, HTTPError, Request, Response, StreamingResponse
from porch.web.testing import TestClient, live_server
from tests.web.test_app import tutorial_app

# (method, url, keyword arguments) sent to both the TestClient and a real server.
EXCHANGES = [
    ("GET", "/", {}),
    ("GET", "/echo-param?param=x", {}),
    ("GET", "/echo-param", {"params": {"param": "y z"}}),
    ("GET", "/users/42?verbose=yes", {}),
    ("GET", "/users/abc", {}),
    ("GET", "/search?q=a&tag=x&tag=y", {}),
    ("GET", "/search", {}),
    ("GET", "/search?q=a&page=two", {}),
    ("POST", "/items", {"json": {"name": "x"}}),
    ("POST", "/items", {"content": b"{oops", "headers": {"content-type": "application/json"}}),
    ("GET", "/teapot", {}),
    ("GET", "/where", {}),
    ("DELETE", "/", {}),
    ("HEAD", "/", {}),
    ("OPTIONS", "/items", {}),
    ("GET", "/docs?x=1", {}),
    ("GET", "/nowhere", {}),
]
COMPARED_HEADERS = ("content-type", "content-length", "allow", "location", "transfer-encoding")


def _summary(response) -> tuple[object, ...]:
    headers = tuple(response.headers.get(name) for name in COMPARED_HEADERS)
    return response.status_code, headers, response.content


def test_tutorial_app_answers_as_over_sockets():
    with live_server(tutorial_app()) as srv, httpx.Client(base_url=srv.url) as http:
        expected = [_summary(http.request(m, u, **kw)) for m, u, kw in EXCHANGES]
    with TestClient(tutorial_app()) as client:
        got = [_summary(client.request(m, u, **kw)) for m, u, kw in EXCHANGES]
    for exchange, want, have in zip(EXCHANGES, expected, got, strict=True):
        assert have == want, exchange


def test_tutorial_pages_in_process():
    with TestClient(tutorial_app()) as client:
        hello = client.get("/")
        assert (hello.status_code, hello.text) == (200, "Hello, World!")
        assert hello.headers["Content-Type"] == "text/html; charset=utf-8"
        assert client.get("/users/7").json() == {"id": 7, "verbose": False}
        head = client.head("/")
        assert (head.content, head.headers["content-length"]) == (b"", "13")


def streaming_app(tmp_path) -> App:
    app = App()
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 1024)  # 256 KiB: sent by sendfile over sockets
    small = tmp_path / "small.txt"
    small.write_bytes(b"small file\n")

    @app.get("/stream")
    async def stream() -> Response:
        async def pieces():
            for i in range(3):
                yield f"part {i};"
            yield b"bytes"

        return StreamingResponse(pieces(), media_type="text/plain")

    @app.get("/sync-stream")
    async def sync_stream() -> Response:
        return StreamingResponse(iter([b"a", b"b"]), headers={"content-length": "2"})

    @app.get("/big")
    async def big_file() -> Response:
        return FileResponse(big)

    @app.get("/small")
    async def small_file() -> Response:
        return FileResponse(small, filename="small.txt")

    return app


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/stream", {}),
        ("/sync-stream", {}),
        ("/big", {}),
        ("/small", {}),
        ("/big", {"range": "bytes=10-19"}),
        ("/big", {"range": "bytes=0-1,5-6"}),
        ("/small", {"if-none-match": "*"}),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_streamed_and_file_bodies_match_the_server(tmp_path, url, headers, method):
    app = streaming_app(tmp_path)
    with live_server(app) as srv, httpx.Client(base_url=srv.url) as http:
        over_socket = http.request(method, url, headers=headers)
    with TestClient(app) as client:
        in_process = client.request(method, url, headers=headers)
    assert in_process.status_code == over_socket.status_code
    for name in ("content-type", "content-length", "content-range", "etag"):
        want, have = over_socket.headers.get(name, ""), in_process.headers.get(name, "")
        assert have.partition("boundary=")[0] == want.partition("boundary=")[0], name
    if "multipart/byteranges" not in over_socket.headers.get("content-type", ""):
        assert in_process.content == over_socket.content  # the separator is random
    else:
        assert len(in_process.content) == len(over_socket.content)
    if method == "HEAD":
        assert in_process.content == b""


def test_stream_contents(tmp_path):
    with TestClient(streaming_app(tmp_path)) as client:
        response = client.get("/stream")
        assert response.text == "part 0;part 1;part 2;bytes"
        assert response.headers["transfer-encoding"] == "chunked"
        assert client.get("/big").content == bytes(range(256)) * 1024
        assert client.get("/big", headers={"range": "bytes=256-257"}).content == b"\x00\x01"


def cookie_app() -> App:
    app = App()

    @app.get("/login")
    async def login() -> Response:
        response = Response("in")
        response.headers.append("set-cookie", "sid=abc123; Path=/; HttpOnly")
        response.headers.append("set-cookie", "theme=dark; Max-Age=3600")
        return response

    @app.get("/logout")
    async def logout() -> Response:
        response = Response("out")
        response.headers.append("set-cookie", "sid=; Max-Age=0; Path=/")
        response.headers.append("set-cookie", "theme=; expires=Thu, 01 Jan 1970 00:00:00 GMT")
        return response

    @app.get("/me")
    async def me(request: Request) -> dict[str, str]:
        return request.cookies

    return app


def test_cookies_are_kept_across_requests():
    with TestClient(cookie_app()) as client:
        assert client.get("/me").json() == {}
        login = client.get("/login")
        assert login.cookies == {"sid": "abc123", "theme": "dark"}
        assert client.cookies == {"sid": "abc123", "theme": "dark"}
        assert client.get("/me").json() == {"sid": "abc123", "theme": "dark"}
        assert client.get("/me", cookies={"extra": "1"}).json() == {
            "sid": "abc123",
            "theme": "dark",
            "extra": "1",
        }
        assert "extra" not in client.cookies
        client.get("/logout")
        assert client.cookies == {}
        assert client.get("/me").json() == {}
    preset = TestClient(cookie_app(), cookies={"sid": "preset"})
    with preset:
        assert preset.get("/me").json() == {"sid": "preset"}


def test_redirects_are_followed_only_when_asked():
    app = App()

    @app.post("/old")
    async def old() -> Response:
        return Response(b"", 303, {"location": "/new?from=old"})

    @app.get("/new")
    async def new(request: Request) -> str:
        return f"new {request.query.get('from')} {request.method}"

    @app.get("/loop")
    async def loop() -> Response:
        return Response(b"", 302, {"location": "/loop"})

    with TestClient(app) as client:
        moved = client.post("/old", data={"a": "1"})
        assert (moved.status_code, moved.headers["location"]) == (303, "/new?from=old")
        followed = client.post("/old", data={"a": "1"}, follow_redirects=True)
        assert (followed.status_code, followed.text) == (200, "new old GET")
        assert [r.status_code for r in followed.history] == [303]
        with pytest.raises(RuntimeError, match="redirects"):
            client.get("/loop", follow_redirects=True)
    with TestClient(app, follow_redirects=True) as client:
        assert client.post("/old").text == "new old GET"


def test_startup_and_shutdown_run_once():
    app = App()
    events: list[str] = []
    app.on_startup(lambda: events.append("up"))
    app.on_shutdown(lambda: events.append("down"))

    @app.get("/")
    async def home() -> str:
        return ",".join(events)

    with TestClient(app) as client:
        assert events == ["up"]
        assert client.get("/").text == "up"
        assert client.get("/").text == "up"
    assert events == ["up", "down"]


def test_a_failing_startup_stops_the_client():
    app = App()

    @app.on_startup
    async def fail() -> None:
        raise RuntimeError("no database")

    client = TestClient(app)
    with pytest.raises(RuntimeError, match="no database"):
        client.__enter__()
    assert client._thread is None


def failing_app() -> App:
    app = App()

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("boom")

    @app.get("/sync-boom")
    def sync_boom() -> str:
        raise ValueError("sync boom")

    @app.get("/stream-boom")
    async def stream_boom() -> Response:
        async def pieces():
            yield b"start"
            raise RuntimeError("mid-stream")

        return StreamingResponse(pieces())

    return app


def test_an_exception_in_the_app_is_a_500(caplog):
    with TestClient(failing_app()) as client:
        for url in ("/boom", "/sync-boom"):
            response = client.get(url)
            assert (response.status_code, response.text) == (500, "Internal Server Error\n")
        assert client.get("/stream-boom").status_code == 200  # the head was sent already
    assert "boom" in caplog.text


def test_raise_server_exceptions_reraises():
    with TestClient(failing_app(), raise_server_exceptions=True) as client:
        with pytest.raises(RuntimeError, match="boom"):
            client.get("/boom")
        with pytest.raises(ValueError, match="sync boom"):
            client.get("/sync-boom")
        with pytest.raises(RuntimeError, match="mid-stream"):
            client.get("/stream-boom")


async def native_app(request: Request) -> Response:
    """A plain native app (no startup/shutdown), echoing what it received."""
    if request.path == "/error":
        raise HTTPError(409, "conflict here", {"x-why": "because"})
    if request.path == "/not-a-response":
        return "oops"  # type: ignore[return-value]
    body = await request.body()
    text = (
        f"{request.method} {request.url} host={request.headers.get('host')} "
        f"ua={request.headers.get('user-agent')} len={request.headers.get('content-length')} "
        f"body={body.decode()} client={request.client}"
    )
    return Response(text, media_type="text/plain")


def test_native_app_without_context_manager():
    client = TestClient(native_app, base_url="https://example.org")
    try:
        echo = client.put("/p%20q?a=1", content="data")
        assert echo.text == (
            "PUT https://example.org/p%20q?a=1 host=example.org ua=porch-testclient len=4 "
            "body=data client=('testclient', 50000)"
        )
        assert client.get("/x y").text.startswith("GET https://example.org/x%20y ")
        error = client.get("/error")
        assert (error.status_code, error.text, error.headers["x-why"]) == (
            409,
            "conflict here\n",
            "because",
        )
        assert client.get("/not-a-response").status_code == 500
        assert client.patch("/", headers={"user-agent": "me"}).text.startswith(
            "PATCH https://example.org/ host=example.org ua=me len=0"
        )
    finally:
        client.close()


def test_form_bodies_through_the_test_client():
    app = App()

    @app.post("/")
    async def echo(request: Request) -> str:
        form = await request.form()
        return ",".join(
            f"{k}={v if isinstance(v, str) else v.filename}" for k, v in form.multi_items()
        )

    with TestClient(app) as client:
        assert client.post("/", data={"a": ["1", "2"]}).text == "a=1,a=2"
        assert client.post("/", data=[("b", 3)], files=[("f", b"xx")]).text == "b=3,f=f"
        assert client.post("/", files={"f": ("n.txt", "text", "text/plain")}).text == "f=n.txt"


def test_live_server_serves_the_app():
    with live_server(tutorial_app()) as srv:
        assert srv.url == f"http://127.0.0.1:{srv.port}"
        assert httpx.get(srv.url + "/").text == "Hello, World!"
    assert not srv.thread.is_alive()


def test_the_pytest_plugin_gives_a_live_server_fixture(porch_live_server):
    import httpx as _httpx

    from tests.web.test_app import tutorial_app

    with porch_live_server(tutorial_app()) as server:
        assert _httpx.get(server.url + "/").text == "Hello, World!"
        with server.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
