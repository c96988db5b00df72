"""The native contract's response and its common kinds.

A response is a status, headers and a body that is either bytes (`body`) or an iterator of
chunks (`stream`). The server adds Date, Server, Content-Length or chunked framing and
Connection; an app sets everything else.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

import msgspec

from porch.datastructures import MutableHeaders
from porch.http.writer import check_header

if TYPE_CHECKING:
    from porch.request import Request

__all__ = [
    "FileBody",
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
]

HeadersInit = Mapping[str, str] | Iterable[tuple[str, str]] | None
_json_encode = msgspec.json.Encoder().encode
# media type -> checked content-type value (charset added); bounded, filled on first use.
_content_types: dict[str, str] = {}
_MAX_CACHED_TYPES = 256


class FileBody:
    """A byte range of an open file, sent by the server with sendfile (zero-copy).

    The server owns `file` once the response is returned: it closes it when the body is sent,
    or the connection is gone. If the file shrinks while it is sent, the connection is closed
    rather than sending a body shorter than its Content-Length.
    """

    __slots__ = ("file", "offset", "count")

    def __init__(self, file: BinaryIO, offset: int, count: int) -> None:
        self.file = file
        self.offset = offset
        self.count = count

    def close(self) -> None:
        self.file.close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        """The range read in pieces, for servers that cannot use sendfile (TLS, ASGI)."""
        offset, remaining = self.offset, self.count
        fd = self.file.fileno()
        while remaining > 0:
            data = os.pread(fd, min(remaining, 256 * 1024), offset)
            if not data:
                raise OSError(f"{self.file.name!r} shrank while it was being sent")
            offset += len(data)
            remaining -= len(data)
            yield data


class Response:
    """A response with a bytes body.

    ``Response(b"hi", media_type="text/plain")``; a `str` body is encoded as UTF-8 and a
    ``text/*`` media type gets ``; charset=utf-8``. Headers may be a mapping or a list of pairs;
    values are checked when set (no CR, LF or control characters).
    """

    __slots__ = ("status", "headers", "body", "stream")

    media_type: ClassVar[str | None] = None
    charset: ClassVar[str] = "utf-8"

    def __init__(
        self,
        content: Any = b"",
        status: int = 200,
        headers: HeadersInit = None,
        media_type: str | None = None,
    ) -> None:
        self.status = status
        self.headers = MutableHeaders(headers)
        self.body = self.render(content)
        self.stream: AsyncIterable[bytes | str] | Iterable[bytes | str] | FileBody | None = None
        self._set_media_type(media_type or self.media_type)

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode(self.charset)
        if content is None:
            return b""
        if isinstance(content, bytearray | memoryview):
            return bytes(content)
        raise TypeError(
            f"{type(self).__name__} content must be bytes or str, not {type(content).__name__}"
        )

    def _set_media_type(self, media_type: str | None) -> None:
        if media_type is None:
            return
        headers = self.headers
        if headers._list and "content-type" in headers:
            return
        value = _content_types.get(media_type)
        if value is None or self.charset != "utf-8":
            value = media_type
            if media_type.startswith("text/") and "charset=" not in media_type:
                value = f"{media_type}; charset={self.charset}"
            check_header("content-type", value)
            if len(_content_types) < _MAX_CACHED_TYPES and self.charset == "utf-8":
                _content_types[media_type] = value
        headers._list.append(("content-type", value))

    def for_request(self, request: Request) -> Response:
        """Adapt to the request before sending; called by the server for non-bytes bodies.

        A file response evaluates conditional and range headers here."""
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status}>"


class PlainTextResponse(Response):
    media_type = "text/plain"


class HTMLResponse(Response):
    media_type = "text/html"


class JSONResponse(Response):
    """A JSON body encoded by msgspec (dicts, lists, dataclasses, msgspec Structs, ...)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _json_encode(content)


class RedirectResponse(Response):
    """A redirect to `url` (307 by default, which keeps the method and body)."""

    def __init__(self, url: str, status: int = 307, headers: HeadersInit = None) -> None:
        super().__init__(b"", status, headers)
        self.headers["location"] = url


class StreamingResponse(Response):
    """A body produced piece by piece by an (async) iterator of bytes or str.

    Sent chunked, or with the Content-Length given in `headers`. The server stops pulling
    while the client is slow to read; a sync iterator must not block (it runs on the loop).
    """

    def __init__(
        self,
        content: AsyncIterable[bytes | str] | Iterable[bytes | str],
        status: int = 200,
        headers: HeadersInit = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(b"", status, headers, media_type)
        self.stream = content
