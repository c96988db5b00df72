"""An app for the lifecycle and CLI tests, served in a subprocess.

Routes that take time print a marker line on stderr (flushed) the moment they start, so a
test can wait for that line instead of sleeping:

- ``/slow?delay=S``: prints ``SLOW-STARTED``, works for S seconds (default 1), answers
  `SLOW_BODY`.
- ``/hang``: prints ``HANG-STARTED`` and never answers.
- ``/boom``: raises.
- ``/events``: an event stream that sends one event and then waits forever; prints
  ``EVENTS-STARTED`` after the event and ``EVENTS-CLOSED`` when its source is closed.
- anything else: ``hello``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from porch import EventStream, Request, Response, ServerSentEvent

SLOW_BODY = b"".join(b"%07d\n" % i for i in range(20_000))  # 160 kB, every line distinct
NOT_CALLABLE = 42


def marker(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _endless_events() -> Any:
    try:
        yield ServerSentEvent("first", id="1")
        marker("EVENTS-STARTED")
        await asyncio.Event().wait()
    finally:
        marker("EVENTS-CLOSED")


async def app(request: Request) -> Response:
    path = request.path
    if path == "/slow":
        marker("SLOW-STARTED")
        await asyncio.sleep(float(request.query.get("delay") or 1.0))
        return Response(SLOW_BODY, media_type="application/octet-stream")
    if path == "/hang":
        marker("HANG-STARTED")
        await asyncio.Event().wait()
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/events":
        return EventStream(_endless_events(), ping=None)
    return Response(b"hello", media_type="text/plain")


async def asgi_app(scope: dict, receive: Any, send: Any) -> None:
    """An ASGI 3 app: ``asgi <path>``."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi " + scope["raw_path"]})


def wsgi_app(environ: dict, start_response: Any) -> list[bytes]:
    """A WSGI app: ``wsgi <SCRIPT_NAME>|<PATH_INFO>``."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"wsgi {environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode()]


def undetectable(*args: Any) -> None:
    """Takes anything: its interface cannot be told from its signature."""


def create_app(greeting: str = "made", *, punct: str = "!") -> Any:
    """An app factory, for ``porch serve 'tests.apps.lifecycle:create_app("hi", punct="?")'``."""

    async def made(request: Request) -> Response:
        return Response(f"{greeting}{punct}".encode(), media_type="text/plain")

    return made
