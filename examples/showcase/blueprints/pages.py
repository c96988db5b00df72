"""The stats page (cached) and the quote page (an async call to a slow "external" service)."""

from __future__ import annotations

from typing import Annotated

import httpx
import msgspec

from examples.showcase.blueprints.services import QuoteClient
from examples.showcase.render import render
from examples.showcase.stats import TTL, site_stats
from porch import Blueprint, Request, Response
from porch.web.openapi import exclude

bp = Blueprint("pages")

quotes = QuoteClient()  # its httpx.AsyncClient is opened and closed with the app


@bp.get("/stats")
@exclude  # a page, not part of the JSON API
async def stats(request: Request) -> Response:
    return render(request, "stats.html", stats=await site_stats(), ttl=int(TTL))


@bp.get("/quote")
@exclude  # a page, not part of the JSON API
async def quote(
    request: Request, delay: Annotated[float, msgspec.Meta(ge=0, le=5)] = 0.3
) -> Response:
    """Awaits the quote service over HTTP: while it waits (`delay` seconds of simulated
    latency), this worker's event loop serves every other request."""
    try:
        found = await quotes.fetch(request, delay)
    except httpx.HTTPError as exc:
        return render(request, "quote.html", 502, quote=None, error=quotes.explain(exc))
    return render(request, "quote.html", quote=found, error=None)
