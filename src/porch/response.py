"""The native contract's response and its common kinds.

A response is a status, headers and a body that is either bytes (`body`) or an iterator of
chunks (`stream`). The server adds Date, Server, Content-Length or chunked framing and
Connection; an app sets everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

import msgspec

from porch.datastructures import MutableHeaders
from porch.http.writer import check_header

if TYPE_CHECKING:
    from porch.request import Request

__all__ = [
    "EventStream",
    "add_vary",
    "close_body",
    "internal_error",
    "iterate_body",
    "FileBody",
    "ServerSentEvent",
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
            # A disk read may block: it runs in a thread, one hop per 256 KiB.
            data = await asyncio.to_thread(os.pread, fd, min(remaining, 256 * 1024), offset)
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
    # A streamed body with no end of its own (an event stream): the server's graceful
    # shutdown ends it at once, cleanly framed, instead of waiting for it until the timeout.
    ends_at_shutdown: ClassVar[bool] = False

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

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: datetime | str | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: str | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a Set-Cookie field. Safe by default: HttpOnly, SameSite=Lax, Path=/.

        `value` must be cookie-safe text (RFC 6265: no spaces, quotes, commas, semicolons or
        backslashes); encode anything else (for example with base64url) before setting it.
        """
        self.headers.append(
            "set-cookie",
            _cookie(
                key, value, max_age, expires, path, domain, secure, httponly, samesite, partitioned
            ),
        )

    def delete_cookie(
        self, key: str, *, path: str | None = "/", domain: str | None = None
    ) -> None:
        """Tell the browser to drop a cookie (same path and domain as when it was set)."""
        self.set_cookie(
            key, "", max_age=0, expires="Thu, 01 Jan 1970 00:00:00 GMT", path=path, domain=domain
        )

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


@dataclass(slots=True)
class ServerSentEvent:
    """One event of an `EventStream`. `data` that is not str or bytes is sent as JSON."""

    data: Any = ""
    event: str | None = None
    id: str | None = None
    retry: int | None = None

    def encode(self) -> bytes:
        lines = []
        for name, value in (("event", self.event), ("id", self.id)):
            if value is not None:
                if "\r" in value or "\n" in value or (name == "id" and "\0" in value):
                    raise ValueError(f"an event {name} cannot contain CR, LF or NUL: {value!r}")
                lines.append(f"{name}: {value}")
        if self.retry is not None:
            lines.append(f"retry: {int(self.retry)}")
        data = self.data
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        elif not isinstance(data, str):
            data = _json_encode(data).decode("utf-8")
        lines.extend("data: " + line for line in _LINE_BREAKS.split(data))
        return ("\n".join(lines) + "\n\n").encode("utf-8")


_LINE_BREAKS = re.compile(r"\r\n|\r|\n")


class EventStream(Response):
    """Server-Sent Events (``text/event-stream``) from an async iterable of `ServerSentEvent`,
    str (one event's data) or JSON-able values.

    A comment line goes out every `ping` seconds while the source is quiet, which keeps
    proxies from timing out. When the client goes away, porch stops the stream and closes the
    source (an async generator's ``finally`` runs). A reconnecting browser sends the last id it
    saw in the ``Last-Event-ID`` request header.

    When the server shuts down gracefully (SIGTERM, or a worker replaced in a rolling reload)
    the stream ends at once with a complete response: the browser's EventSource reconnects,
    to a server that is still up, instead of holding the shutdown for ``--timeout-graceful``.
    """

    media_type = "text/event-stream"
    ends_at_shutdown = True

    def __init__(
        self,
        events: AsyncIterable[Any],
        *,
        ping: float | None = 15.0,
        retry: int | None = None,
        status: int = 200,
        headers: HeadersInit = None,
    ) -> None:
        super().__init__(b"", status, headers)
        self.headers.setdefault("cache-control", "no-cache")
        self.headers.setdefault("x-accel-buffering", "no")  # nginx: do not buffer the stream
        self.stream = _event_bytes(events, ping, retry)


async def _event_bytes(
    events: AsyncIterable[Any], ping: float | None, retry: int | None
) -> AsyncIterator[bytes]:
    if retry is not None:
        yield f"retry: {int(retry)}\n\n".encode()
    iterator = aiter(events)
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(iterator))
            # Wait without cancelling: a heartbeat must not interrupt the source.
            done, _ = await asyncio.wait({pending}, timeout=ping)
            if not done:
                yield b": ping\n\n"
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                pending = None
                return
            pending = None
            if not isinstance(item, ServerSentEvent):
                item = ServerSentEvent(item)
            yield item.encode()
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()


_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
_ATTRIBUTE = re.compile(r"[^\x00-\x1f\x7f;]*")


def _cookie(
    key: str,
    value: str,
    max_age: int | None,
    expires: datetime | str | None,
    path: str | None,
    domain: str | None,
    secure: bool,
    httponly: bool,
    samesite: str | None,
    partitioned: bool,
) -> str:
    if not _COOKIE_NAME.fullmatch(key):
        raise ValueError(f"invalid cookie name {key!r}")
    if not _COOKIE_VALUE.fullmatch(value):
        raise ValueError(
            f"cookie {key!r}: the value has characters a cookie cannot carry; encode it first"
        )
    parts = [f"{key}={value}"]
    if max_age is not None:
        parts.append(f"Max-Age={int(max_age)}")
    if expires is not None:
        if isinstance(expires, datetime):
            expires = format_datetime(expires.astimezone(UTC), usegmt=True)
        parts.append(f"Expires={expires}")
    for name, attribute in (("Path", path), ("Domain", domain)):
        if attribute is not None:
            if not _ATTRIBUTE.fullmatch(attribute):
                raise ValueError(f"cookie {key!r}: invalid {name} {attribute!r}")
            parts.append(f"{name}={attribute}")
    if samesite is not None:
        kind = samesite.capitalize()
        if kind not in ("Lax", "Strict", "None"):
            raise ValueError(f"cookie {key!r}: samesite must be lax, strict or none")
        parts.append(f"SameSite={kind}")
        secure = secure or kind == "None"  # browsers drop SameSite=None without Secure
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)


def add_vary(response: Response, *names: str) -> None:
    """Append `names` to the response's Vary field (once each)."""
    headers = response.headers
    current = headers.get("vary")
    if current is None:
        headers["vary"] = ", ".join(names)
        return
    present = {part.strip().lower() for part in current.split(",")}
    if "*" in present:
        return
    missing = [name for name in names if name.lower() not in present]
    if missing:
        headers["vary"] = ", ".join([current, *missing])


def internal_error() -> Response:
    """The plain 500 the server answers when an app failed before its response left."""
    return Response(b"Internal Server Error\n", 500, None, "text/plain")


async def iterate_body(
    stream: AsyncIterable[bytes | str] | Iterable[bytes | str] | FileBody,
) -> AsyncGenerator[bytes | str, None]:
    """The pieces of a non-bytes body (async or sync iterable, or a `FileBody` read in
    chunks), closing any iterator this function itself created."""
    if isinstance(stream, AsyncIterable):
        iterator = aiter(stream)
        try:
            async for piece in iterator:
                yield piece
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None and iterator is not stream:
                await aclose()
    else:
        for piece in stream:
            yield piece


async def close_body(stream: Any) -> None:
    """Close a body whatever happened to it: a `FileBody`, an async or a sync generator."""
    if stream is None:
        return
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
        return
    close = getattr(stream, "close", None)
    if close is not None:
        close()
