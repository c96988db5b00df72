from __future__ import annotations

import asyncio
from typing import Any

import httpx

from porch import JSONResponse, Request, Response
from tests.conftest import Reader


async def hello(request: Request) -> Response:
    if request.path == "/json":
        return JSONResponse({"message": "Hello, World!"})
    return Response(b"Hello, World!", media_type="text/plain")


def test_get_plaintext_and_json(serve):
    with serve(hello) as srv:
        with httpx.Client(base_url=srv.url) as client:
            r = client.get("/")
            assert r.status_code == 200
            assert r.text == "Hello, World!"
            assert r.headers["content-type"] == "text/plain; charset=utf-8"
            assert r.headers["server"] == "porch"
            assert "date" in r.headers
            r = client.get("/json")
            assert r.json() == {"message": "Hello, World!"}


def test_pipelined_requests_answered_in_order(serve):
    async def app(request: Request) -> Response:
        return Response(request.path.encode())

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(10)))
        reader = Reader(sock)
        bodies = [reader.response()[2] for _ in range(10)]
        assert bodies == [b"/%d" % i for i in range(10)]


def test_app_code_runs_in_a_task_from_its_first_line(serve: Any) -> None:
    """asyncio.timeout() and anyio need a current task, even before the first await."""

    async def app(request: Request) -> Response:
        async with asyncio.timeout(5):
            assert asyncio.current_task() is not None
            if request.raw_path == b"/wait":
                await asyncio.sleep(0)
            return Response(b"in a task")

    with serve(app) as srv:
        with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}") as client:
            assert client.get("/").text == "in a task"
            assert client.get("/wait").text == "in a task"
