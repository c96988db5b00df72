"""What the ASGI and WSGI hosts share: turning the app's status and checked header fields
into a porch `Response` without checking them again."""

from __future__ import annotations

from porch.datastructures import MutableHeaders
from porch.response import Response

__all__ = ["app_response", "internal_error"]


def app_response(status: int, fields: list[tuple[str, str]], framing: bool) -> Response:
    """A bodyless response from `fields` (lowercase names, values already checked with
    `porch.http.writer.check_header`); `framing`: a framing header is among them."""
    response = Response.__new__(Response)
    response.status = status
    headers = response.headers = MutableHeaders()
    headers._list = fields
    headers.framing = framing
    response.body = b""
    response.stream = None
    return response


def internal_error() -> Response:
    return Response(b"Internal Server Error\n", 500, None, "text/plain")
