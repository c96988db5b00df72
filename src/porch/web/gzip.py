"""Gzip compression of responses, as middleware: ``app.middleware(GZip())``.

It lives in the framework (porch.web), not in porch.security: it is about how a response is
encoded on the wire, over the native contract, and knows nothing of sessions or attackers.

Compressed: responses whose type is text-like (text/*, JSON, JavaScript, XML, SVG) and whose
bytes body is at least `minimum_size`, when the client accepts gzip (``gzip;q=0`` and
``*;q=0`` are refusals). Streamed bodies are compressed as they stream, flushed chunk by
chunk so a stream stays live; Server-Sent Events, file bodies (sent zero-copy; serve
precompressed ``.gz`` siblings for those), ranges and responses that already have a
Content-Encoding pass untouched. A response that could be compressed says
``Vary: Accept-Encoding`` either way, and its strong ETag becomes weak (the bytes changed).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from porch.http.negotiation import coding_weight, coding_weights
from porch.request import Request
from porch.response import FileBody, Response, add_vary, close_body, iterate_body
from porch.static.mime import is_compressible

__all__ = ["GZip", "accepts_gzip"]

Next = Callable[[Request], Awaitable[Response]]


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding value allows gzip (RFC 9110 12.5.3, with q-values)."""
    if not accept_encoding:
        return False
    return coding_weight(coding_weights(accept_encoding), "gzip", "x-gzip") > 0


def _compressible(response: Response) -> bool:
    if response.status < 200 or response.status in (204, 206, 304):
        return False
    headers = response.headers
    if "content-encoding" in headers or "content-range" in headers:
        return False
    kind = (headers.get("content-type") or "").lower()
    if kind.startswith("text/event-stream") or isinstance(response.stream, FileBody):
        return False
    return is_compressible(kind) or "+json" in kind or "+xml" in kind


class GZip:
    def __init__(self, minimum_size: int = 500, compresslevel: int = 6) -> None:
        if not 1 <= compresslevel <= 9:
            raise ValueError("compresslevel must be 1..9")
        self.minimum_size = minimum_size
        self.level = compresslevel

    async def __call__(self, request: Request, call_next: Next) -> Response:
        response = await call_next(request)
        if not _compressible(response):
            return response
        add_vary(response, "Accept-Encoding")
        if not accepts_gzip(request.headers.get("accept-encoding")):
            return response
        headers = response.headers
        if response.stream is None:
            if len(response.body) < self.minimum_size:
                return response
            response.body = gzip.compress(response.body, self.level, mtime=0)
        else:
            response.stream = _Compressed(response.stream, self.level)
        headers["content-encoding"] = "gzip"
        if "content-length" in headers:
            del headers["content-length"]
        etag = headers.get("etag")
        if etag is not None and not etag.startswith("W/"):
            headers["etag"] = "W/" + etag
        return response


class _Compressed:
    """A streamed body, compressed as it streams. Closing it closes the handler's body even
    when it was never iterated (a HEAD, a client gone before the first chunk), which a
    generator's ``finally`` would not: it only runs once the generator has started."""

    def __init__(self, body: Any, level: int) -> None:
        self.body = body
        self.level = level
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        packer = zlib.compressobj(self.level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        try:
            async for chunk in iterate_body(self.body):
                data = chunk.encode() if isinstance(chunk, str) else chunk
                out = packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH)
                if out:
                    yield out
            yield packer.flush()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            await close_body(self.body)
