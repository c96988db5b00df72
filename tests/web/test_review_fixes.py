"""Regressions found in review: defaults, cookies, signatures, ASGI root_path and status."""

from __future__ import annotations

import asyncio

import httpx
import msgspec
import pytest

from porch import App, Request, Response, ResponseError
from porch.interfaces.asgi_app import asgi_call


def test_a_mutable_default_is_fresh_for_every_request(serve):
    app = App()

    @app.get("/")
    async def tags(tag: list[str] = []) -> list[str]:  # noqa: B006 - the case under test
        tag.append("seen")
        return tag

    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        assert client.get("/").json() == ["seen"]
        assert client.get("/").json() == ["seen"]


@pytest.mark.parametrize(
    "header",
    ["x=a b; sid=1", 'x={"a":1}; sid=1', "sid=1; x=a b", "junk; sid=1", 'sid="1"; x="'],
)
def test_one_odd_cookie_does_not_hide_the_others(header):
    request = Request.build(headers=[("cookie", header)])
    assert request.cookies["sid"] == "1"


def test_positional_only_parameters_are_refused_at_start_up():
    app = App()

    @app.get("/{n:int}")
    async def po(n: int, /) -> int:
        return n

    with pytest.raises(TypeError, match="positional-only"):
        app.freeze()


class Item(msgspec.Struct):
    name: str


def test_large_non_json_body_is_refused_before_it_is_read(serve):
    app = App()

    @app.post("/items")
    async def create(item: Item) -> str:
        return item.name

    with serve(app, limit_body_size=64 * 1024 * 1024) as srv, srv.connect() as sock:
        sock.sendall(
            b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 50000000\r\n\r\n" + b"x" * 1000
        )
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 415 ")


def _scope(path: str, root_path: str = "") -> dict[str, object]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"x")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def _call(app: object, scope: dict[str, object]) -> list[dict[str, object]]:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await asgi_call(app, scope, receive, send)
    return sent


def test_asgi_root_path_is_stripped_before_routing():
    app = App()

    @app.get("/items")
    async def items() -> str:
        return "items"

    sent = asyncio.run(_call(app, _scope("/api/items", root_path="/api")))
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"items"


def test_asgi_never_sends_an_informational_status_as_the_response():
    async def app(request: Request) -> Response:
        return Response(b"", 103)

    sent: list[dict[str, object]] = []

    async def run() -> None:
        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        await asgi_call(app, _scope("/"), receive, send)

    with pytest.raises(ResponseError, match="invalid status 103"):
        asyncio.run(run())  # the ASGI server answers 500: nothing was started
    assert sent == []
