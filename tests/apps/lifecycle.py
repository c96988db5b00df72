"""An app for the lifecycle and CLI tests, served in a subprocess.

Routes that take time print a marker line on stderr (flushed) the moment they start, so a
test can wait for that line instead of sleeping:

- ``/slow?delay=S``: prints ``SLOW-STARTED``, works for S seconds (default 1), answers
  `SLOW_BODY`.
- ``/hang``: prints ``HANG-STARTED`` and never answers.
- ``/boom``: raises.
- anything else: ``hello``.
"""

from __future__ import annotations

import asyncio
import sys

from porch import Request, Response

SLOW_BODY = b"".join(b"%07d\n" % i for i in range(20_000))  # 160 kB, every line distinct
NOT_CALLABLE = 42


def marker(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


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
    return Response(b"hello", media_type="text/plain")


async def asgi_app(scope: dict, receive: object, send: object) -> None:
    """An ASGI callable: porch does not host these yet."""


def wsgi_app(environ: dict, start_response: object) -> list[bytes]:
    """A WSGI callable: porch does not host these yet."""
    return [b""]
