"""What the ASGI and WSGI hosts share: turning the app's status and checked header fields
into a porch `Response` without checking them again.

The app's own Content-Length is kept aside (`length`): a complete body is framed by the
server from its real size (the server's fast path), while a streamed body, a file and the
answer to HEAD keep the length the app declared.
"""

from __future__ import annotations

from typing import Any

from porch.datastructures import MutableHeaders
from porch.request import Request
from porch.response import Response

__all__ = ["Field", "complete_response", "streamed_response"]

Field = tuple[str, str]


def _response(status: int, fields: list[Field], framing: bool) -> Response:
    response = Response.__new__(Response)
    response.status = status
    headers = response.headers = MutableHeaders.__new__(MutableHeaders)
    headers._list = fields
    headers.framing = framing
    response.body = b""
    response.stream = None
    return response


def complete_response(
    request: Request,
    status: int,
    fields: list[Field],
    framing: bool,
    length: Field | None,
    body: bytes,
) -> Response:
    """A response whose whole body the app has given. `fields`: lowercase names, values
    checked with `porch.http.writer.check_header`, Content-Length left out; `framing`: a
    framing header other than Content-Length is among them."""
    if length is not None and not body and request.method == "HEAD":
        response = _response(status, [*fields, length], True)
        response.stream = ()  # sent without a body, with the length the app declared
        return response
    response = _response(status, fields, framing)
    response.body = body
    return response


def streamed_response(
    status: int, fields: list[Field], framing: bool, length: Field | None, stream: Any
) -> Response:
    """A response whose body the server pulls from `stream` (declared length kept)."""
    if length is not None:
        fields, framing = [*fields, length], True
    response = _response(status, fields, framing)
    response.stream = stream
    return response
