"""What the request parser produces: a `RequestHead` per request, body chunks, `END`."""

from __future__ import annotations

from typing import Final

__all__ = ["END", "BodyKind", "EndOfMessage", "Event", "RequestHead"]


class BodyKind:
    """How the request body is framed."""

    NONE: Final = 0
    LENGTH: Final = 1
    CHUNKED: Final = 2


class RequestHead:
    """The parsed request line and header block of one request.

    Header names are lowercased bytes, values are bytes with surrounding whitespace removed;
    both exactly as received otherwise. `host` is the validated authority (from the target in
    absolute-form, else from the Host header), or ``None`` for an HTTP/1.0 request without one.
    `porch.Request` extends this class, so the object the parser builds is the request the app
    receives.
    """

    __slots__ = (
        "method",
        "raw_path",
        "query_string",
        "http_version",
        "raw_headers",
        "keep_alive",
        "host",
        "body_kind",
        "content_length",
        "expect_continue",
        "upgrade",
    )

    def __init__(
        self,
        method: str,
        raw_path: bytes,
        query_string: bytes,
        http_version: str,
        raw_headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        host: bytes | None,
        body_kind: int,
        content_length: int | None,
        expect_continue: bool,
        upgrade: bytes | None,
    ) -> None:
        self.method = method
        self.raw_path = raw_path
        self.query_string = query_string
        self.http_version = http_version
        self.raw_headers = raw_headers
        self.keep_alive = keep_alive
        self.host = host
        self.body_kind = body_kind
        self.content_length = content_length
        self.expect_continue = expect_continue
        self.upgrade = upgrade

    def __repr__(self) -> str:
        target = self.raw_path + (b"?" + self.query_string if self.query_string else b"")
        return f"<{type(self).__name__} {self.method} {target.decode('ascii', 'replace')}>"


class EndOfMessage:
    """Marks the end of a request's body (also sent for requests without one)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = EndOfMessage()

# An event is a RequestHead, a non-empty bytes body chunk, END, or a ProtocolError (always
# last: the parser accepts nothing after it).
Event = object
