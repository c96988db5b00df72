"""porch's demo app: the native contract, one function, no framework.

Run it with ``make demo`` (or ``porch serve examples.demo:app``) and open http://127.0.0.1:8000.
Each path shows one capability of the server core; the framework, static files, data and
security layers add their own pages as they land.
"""

from __future__ import annotations

import asyncio
import html
import os
from collections.abc import AsyncIterator

from porch import (
    HTMLResponse,
    HTTPError,
    JSONResponse,
    PlainTextResponse,
    Request,
    Response,
    StaticFiles,
    StreamingResponse,
)

HERE = os.path.dirname(os.path.abspath(__file__))
static = StaticFiles(os.path.join(HERE, "static"), prefix="/static", max_age=60)

PAGES = [
    ("/plaintext", "GET", "the TechEmpower plaintext response"),
    ("/json", "GET", "a JSON body encoded by msgspec"),
    ("/request?name=porch&tag=a&tag=b", "GET", "what the server parsed from your request"),
    ("/echo", "POST", "echoes the request body (try curl -d @file)"),
    ("/count", "POST", "streams the request body and counts its bytes without keeping it"),
    ("/stream?n=5", "GET", "a chunked response produced by an async generator"),
    ("/slow?ms=300", "GET", "an app that awaits before answering"),
    ("/error", "GET", "an exception in the app: a 500, and the server carries on"),
    ("/teapot", "GET", "an HTTPError raised by the app"),
    ("/static/", "GET", "static files: listing, ETags, ranges, precompressed .gz siblings"),
    ("/static/hello.txt", "GET", "one static file (try a Range or If-None-Match)"),
]


async def app(request: Request) -> Response:
    if request.raw_path.startswith(b"/static/") or request.raw_path == b"/static":
        return await static(request)
    handler = ROUTES.get(request.path)
    if handler is None:
        raise HTTPError(404, f"No page at {request.path}")
    return await handler(request)


async def index(request: Request) -> Response:
    rows = "\n".join(
        f'<tr><td><code>{method}</code></td><td><a href="{html.escape(path)}">'
        f"{html.escape(path)}</a></td><td>{html.escape(text)}</td></tr>"
        for path, method, text in PAGES
    )
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>porch demo</title>
<link rel="stylesheet" href="/static/demo.css"></head>
<body>
<h1>porch is running</h1>
<p>A native porch app is one coroutine: <code>async def app(request) -&gt; Response</code>.
This page and the ones below are served by it.</p>
<table>{rows}</table>
</body></html>"""
    )


async def plaintext(request: Request) -> Response:
    return PlainTextResponse("Hello, World!")


async def json(request: Request) -> Response:
    return JSONResponse({"message": "Hello, World!"})


async def show_request(request: Request) -> Response:
    return JSONResponse(
        {
            "method": request.method,
            "path": request.path,
            "url": request.url,
            "http_version": request.http_version,
            "client": request.client,
            "query": {key: request.query.getlist(key) for key in request.query},
            "headers": request.headers.multi_items(),
            "cookies": request.cookies,
        }
    )


async def echo(request: Request) -> Response:
    if request.method != "POST":
        raise HTTPError(405, "POST a body to /echo", {"allow": "POST"})
    media_type = request.headers.get("content-type", "application/octet-stream")
    return Response(await request.body(), media_type=media_type)


async def count(request: Request) -> Response:
    if request.method != "POST":
        raise HTTPError(405, "POST a body to /count", {"allow": "POST"})
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
    return JSONResponse({"bytes": total})


async def stream(request: Request) -> Response:
    n = _int_arg(request, "n", 5, 1, 1000)

    async def lines() -> AsyncIterator[str]:
        for i in range(1, n + 1):
            yield f"line {i} of {n}\n"
            await asyncio.sleep(0.05)

    return StreamingResponse(lines(), media_type="text/plain")


async def slow(request: Request) -> Response:
    ms = _int_arg(request, "ms", 300, 0, 5000)
    await asyncio.sleep(ms / 1000)
    return PlainTextResponse(f"answered after {ms} ms\n")


async def error(request: Request) -> Response:
    raise RuntimeError("this exception is on purpose; see the server log")


async def teapot(request: Request) -> Response:
    raise HTTPError(418, "I'm a teapot")


def _int_arg(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPError(400, f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise HTTPError(400, f"{name} must be between {low} and {high}")
    return value


ROUTES = {
    "/": index,
    "/plaintext": plaintext,
    "/json": json,
    "/request": show_request,
    "/echo": echo,
    "/count": count,
    "/stream": stream,
    "/slow": slow,
    "/error": error,
    "/teapot": teapot,
}
