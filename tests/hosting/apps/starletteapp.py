"""Starlette applications as users write them. Nothing in them knows about porch.

`app` has a lifespan that yields state (read by routes through ``request.state``) and writes
marker files to ``$STARLETTE_MARKERS`` (a directory) at startup and shutdown, so a test that
runs it as a subprocess can see both. `failing_app` fails its startup. `details` reads the
connection, URL and body the ways Starlette offers, for in-process tests (they share its
module-level `events`).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypedDict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route

WAIT = 10.0  # the longest an endpoint waits for a disconnect before giving up


class State(TypedDict):
    counter: itertools.count[int]
    greeting: str


def _marker(name: str, text: str) -> None:
    directory = os.environ.get("STARLETTE_MARKERS")
    if directory:
        Path(directory, name).write_text(text)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[State]:
    _marker("startup", str(os.getpid()))
    yield {"counter": itertools.count(1), "greeting": "hello from the lifespan"}
    _marker("shutdown", str(os.getpid()))


async def state_view(request: Request) -> JSONResponse:
    startup_ran = Path(os.environ.get("STARLETTE_MARKERS", "."), "startup").exists()
    return JSONResponse(
        {
            "hits": next(request.state.counter),
            "greeting": request.state.greeting,
            "startup_ran": startup_ran,
        }
    )


app = Starlette(routes=[Route("/state", state_view)], lifespan=lifespan)


@asynccontextmanager
async def failing_lifespan(app: Starlette) -> AsyncIterator[None]:
    raise RuntimeError("cannot reach the database at startup")
    yield  # pragma: no cover


async def never_served(request: Request) -> PlainTextResponse:
    return PlainTextResponse("startup failed, so this is never served")


failing_app = Starlette(routes=[Route("/", never_served)], lifespan=failing_lifespan)


# --- connection, URL, body and disconnect details -------------------------------------------


class Events:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.waiting = threading.Event()  # the long-poll endpoint is waiting
        self.streaming = threading.Event()  # the ticker sent its first piece
        self.stopped = threading.Event()  # an endpoint noticed the disconnect / ended
        self.how: list[str] = []


events = Events()


async def client_view(request: Request) -> JSONResponse:
    assert request.client is not None
    return JSONResponse({"host": request.client.host, "port": request.client.port})


async def url_view(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "url": str(request.url),
            "path": request.url.path,
            "query": request.url.query,
            "root_path": request.scope.get("root_path", ""),
            "base_url": str(request.base_url),
            "url_for": str(request.url_for("item", item_id=7)),
            "mounted": str(request.url_for("sub:leaf")),
        }
    )


async def item_view(request: Request) -> JSONResponse:
    return JSONResponse({"item_id": request.path_params["item_id"]})


async def upload_view(request: Request) -> JSONResponse:
    digest = hashlib.sha256()
    size = chunks = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
        chunks += 1
    return JSONResponse({"size": size, "sha256": digest.hexdigest(), "chunks": chunks})


async def longpoll_view(request: Request) -> PlainTextResponse:
    """Waits (answering nothing) until the client goes away."""
    events.waiting.set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while loop.time() < deadline:
        if await request.is_disconnected():
            events.how.append("is_disconnected")
            events.stopped.set()
            return PlainTextResponse("nobody is listening")
        await asyncio.sleep(0.01)
    events.how.append("timeout")
    return PlainTextResponse("the client stayed")


async def ticker_view(request: Request) -> StreamingResponse:
    """Streams ticks until the client goes away."""

    async def ticks() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        try:
            yield b"tick 0\n"
            events.streaming.set()
            for n in itertools.count(1):
                if await request.is_disconnected():
                    events.how.append("is_disconnected")
                    return
                if loop.time() > deadline:
                    events.how.append("timeout")
                    return
                await asyncio.sleep(0.01)
                yield f"tick {n}\n".encode()
        finally:
            events.stopped.set()

    return StreamingResponse(ticks(), media_type="text/plain")


async def leaf_view(request: Request) -> PlainTextResponse:
    return PlainTextResponse("leaf")


details = Starlette(
    routes=[
        Route("/client", client_view),
        Route("/url", url_view),
        Route("/items/{item_id:int}", item_view, name="item"),
        Route("/upload", upload_view, methods=["POST"]),
        Route("/longpoll", longpoll_view),
        Route("/ticker", ticker_view),
        Mount("/sub", routes=[Route("/leaf", leaf_view, name="leaf")], name="sub"),
    ]
)
