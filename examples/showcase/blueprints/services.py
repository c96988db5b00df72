"""A stand-in for an external service (a "quote of the moment" API), and its client.

The service is a blueprint of this same app with simulated latency (``asyncio.sleep``), so
the demo needs no network; the client calls it over real HTTP with ``httpx.AsyncClient``,
as it would call a real service. Set ``SHOWCASE_QUOTE_URL`` to use another server.

The client calls this server's own listening address (not the request's Host header,
which the visitor chooses: a page that fetched whatever Host said would let anyone make the
server call any address).
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Annotated, Any

import httpx
import msgspec

from porch import Blueprint, Request
from porch.web.openapi import exclude

QUOTES = [
    ("Simple is better than complex.", "The Zen of Python"),
    ("Make it work, make it right, make it fast.", "Kent Beck"),
    ("Premature optimization is the root of all evil.", "Donald Knuth"),
    ("Errors should never pass silently.", "The Zen of Python"),
    ("The cheapest, fastest, and most reliable components are those that aren't there.",
     "Gordon Bell"),
]  # fmt: skip

bp = Blueprint("services", url_prefix="/services", csrf=False)

_in_flight = 0  # calls being answered now (the tests wait for the slow call to be under way)


class Quote(msgspec.Struct):
    text: str
    author: str
    delay: float


@bp.get("/quote")
@exclude
async def quote_service(delay: Annotated[float, msgspec.Meta(ge=0, le=5)] = 0.3) -> Quote:
    global _in_flight
    _in_flight += 1
    try:
        await asyncio.sleep(delay)  # the "network" and the "remote work"
    finally:
        _in_flight -= 1
    text, author = random.choice(QUOTES)
    return Quote(text, author, delay)


@bp.get("/status")
@exclude
async def service_status() -> dict[str, int]:
    return {"in_flight": _in_flight}


class QuoteClient:
    """One `httpx.AsyncClient` (a connection pool) for the app's life, with timeouts."""

    def __init__(self, base_url: str | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url or os.environ.get("SHOWCASE_QUOTE_URL")
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _base(self, request: Request) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        server = request.conn.server if request.conn is not None else None
        if server is None:
            raise httpx.ConnectError("this server has no TCP address: set SHOWCASE_QUOTE_URL")
        host, port = server[:2]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
        return f"http://{f'[{host}]' if ':' in host and not host.startswith('[') else host}:{port}"

    async def fetch(self, request: Request, delay: float) -> dict[str, Any]:
        if self._client is None:
            await self.start()
        assert self._client is not None
        response = await self._client.get(
            f"{self._base(request)}/services/quote", params={"delay": delay}
        )
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def explain(self, exc: httpx.HTTPError) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"The quote service did not answer within {self.timeout:g} s."
        return f"The quote service failed: {exc}"
