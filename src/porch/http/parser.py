"""Sans-IO HTTP/1.1 request parsing: bytes in, events out.

llhttp (through httptools) does the tokenising in C and already refuses most framing attacks
in its strict mode: Content-Length with Transfer-Encoding, duplicate Content-Length, bad chunk
sizes, obs-fold, bare CR or LF, control bytes in the head, whitespace before a colon. This
module adds what RFC 9112 asks and llhttp leaves to its user: Host rules, the request-target
forms, transfer codings other than ``chunked``, HTTP versions, and the size limits (llhttp
buffers a header piece without bound).

Three verbs: `receive_data(bytes) -> list[event]`, and the attributes `in_head` (a request head
is partly received) and `upgrade_data` (bytes that followed an Upgrade request). After a
`ProtocolError` event the parser is finished and returns no more events.
"""

from __future__ import annotations

import re

import httptools

from porch.errors import ProtocolError
from porch.http.events import END, BodyKind, RequestHead
from porch.http.limits import Limits

__all__ = ["RequestParser"]

# uri-host [ ":" port ] (RFC 9110 7.2): an IP-literal or a reg-name/IPv4 of unreserved,
# sub-delims and pct-encoded characters; an empty Host is allowed.
HOST_SYNTAX = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]{0,5})?")
_METHODS = {
    m.encode(): m
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")
}
_WATCHED = frozenset(
    (b"host", b"content-length", b"transfer-encoding", b"expect", b"upgrade", b"connection")
)
# Method, spaces, version, colon and CRLF of an unfinished line beyond its counted content.
# Bytes a client may send after an Upgrade request before it is answered.
UPGRADE_BUFFER = 64 * 1024
_LINE_SLACK = 64
# Bytes allowed per chunk for its size line, extensions and CRLFs.
_CHUNK_SLACK = 1024


class RequestParser:
    """Parse requests from one connection's byte stream.

    `head_class` builds each head; the server passes `porch.Request` so that the parser's
    object is the request handed to the app.
    """

    __slots__ = (
        "_parser",
        "_limits",
        "_max_count",
        "_max_size",
        "_head_class",
        "_events",
        "_error",
        "_dead",
        "in_head",
        "upgrade_data",
        "_pending",
        "_url",
        "_headers",
        "_trailers",
        "_size",
        "_watched",
        "_kind",
        "_body_size",
        "_chunks",
        "_overhead",
        "_good_host",
    )

    def __init__(self, limits: Limits, head_class: type[RequestHead] = RequestHead) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._limits = limits
        self._max_count = limits.header_count
        self._max_size = limits.header_size
        self._head_class = head_class
        self._events: list[object] = []
        self._error: ProtocolError | None = None
        self._dead = False
        self.in_head = False
        self.upgrade_data: bytes | None = None
        self._pending = 0
        self._good_host = b""  # the last Host value that passed validation
        self._reset_chunked()
        self._reset_message()

    def _reset_chunked(self) -> None:
        """Counters that only a chunked body uses (reset when one starts)."""
        self._body_size = 0
        self._chunks = 0  # chunk headers seen
        self._overhead = 0  # bytes of chunked framing and trailers received
        self._trailers = 0

    def _reset_message(self) -> None:
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._size = 0
        # Values of the fields that decide framing and routing, by lowercase name.
        self._watched: dict[bytes, bytes] = {}
        self._kind = BodyKind.NONE

    def _after_upgrade(self, data: bytes) -> list[object]:
        """Keep what follows an Upgrade request for the protocol that may take the connection
        over, up to `UPGRADE_BUFFER` bytes: past that, an error event (which stops reading)."""
        early = self.upgrade_data
        if early is None or len(early) > UPGRADE_BUFFER:
            return []
        early += data
        self.upgrade_data = early
        if len(early) > UPGRADE_BUFFER:
            return [ProtocolError(400, "Too much data before the upgrade was answered")]
        return []

    @property
    def finished(self) -> bool:
        """True after an error or an Upgrade: no further bytes are parsed."""
        return self._dead

    def receive_data(self, data: bytes) -> list[object]:
        """Feed bytes; return the events they complete, in order."""
        if self._dead:
            return self._after_upgrade(data)
        events: list[object] = []
        self._events = events
        was_in_head = self.in_head
        chunked_body = self._kind == BodyKind.CHUNKED and not was_in_head
        body_before = self._body_size
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._dead = True
            self.upgrade_data = data[exc.args[0] :] if exc.args else b""
        except httptools.HttpParserCallbackError:
            self._fail(self._error or ProtocolError(400, "Malformed request"))
        except httptools.HttpParserInvalidMethodError:
            self._fail(ProtocolError(501, "Request method not implemented"))
        except httptools.HttpParserInvalidURLError:
            self._fail(ProtocolError(400, "Invalid request target"))
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(400, f"Malformed request: {exc}"))
        else:
            if self.in_head:
                self._count_partial(data, was_in_head, events)
            elif chunked_body and END not in events:  # the whole chunk is this body's
                self._count_overhead(len(data) - (self._body_size - body_before))
        return events

    def _count_partial(self, data: bytes, was_in_head: bool, events: list[object]) -> None:
        """Bound the header line httptools is still buffering (its callbacks cannot see it).

        The unfinished line is what follows the last LF. When a previous request ended in
        this same chunk, that LF may be its own, so nothing is counted until the next chunk:
        the cap can be late by one read, never wrong.
        """
        newline = data.rfind(b"\n")
        if was_in_head:
            self._pending = self._pending + len(data) if newline < 0 else len(data) - newline - 1
        elif not events:
            self._pending = len(data) - newline - 1
        else:
            self._pending = 0
        lim = self._limits
        allowed = lim.header_size - self._size + _LINE_SLACK
        if not self._headers:
            allowed += lim.request_line
        if self._pending > allowed:
            self._fail(ProtocolError(431, "Request header block too large"))

    def _count_overhead(self, size: int) -> None:
        """Bound what a chunked body sends besides data: chunk lines, extensions, trailers.

        httptools buffers an unfinished trailer field without limit and walks through chunk
        extensions byte by byte; both are capped here, per chunk plus the header allowance.
        """
        self._overhead += size
        lim = self._limits
        if self._overhead > lim.header_size + _CHUNK_SLACK * (self._chunks + 1):
            self._fail(ProtocolError(431, "Chunked framing or trailers too large"))

    def _fail(self, error: ProtocolError) -> None:
        self._dead = True
        self.in_head = False
        self._events.append(error)

    def _raise(self, status: int, detail: str) -> None:
        self._error = ProtocolError(status, detail)
        raise self._error

    # httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.in_head = True
        self._pending = 0
        self._reset_message()

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._limits.request_line:
            self._raise(414, "Request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._size += len(name) + len(value)
        if self._size > self._max_size:
            self._raise(431, "Request header block too large")
        headers = self._headers
        if not self.in_head:  # a trailer field: counted against the limits, then dropped
            self._trailers += 1
            if len(headers) + self._trailers > self._max_count:
                self._raise(431, "Too many header fields")
            return
        if len(headers) >= self._max_count:
            self._raise(431, "Too many header fields")
        if value and value[-1] in b" \t":
            value = value.rstrip(b" \t")
        name = name.lower()
        headers.append((name, value))
        if name in _WATCHED:
            watched = self._watched
            previous = watched.get(name)
            if previous is None:
                watched[name] = value
            elif name == b"host":
                self._raise(400, "More than one Host header")
            else:  # list-valued fields sent on several lines: join them (RFC 9110 5.3)
                watched[name] = previous + b", " + value

    def on_headers_complete(self) -> None:
        self.in_head = False
        parser = self._parser
        watched = self._watched
        keep_alive = parser.should_keep_alive()
        # llhttp accepts only 0.9, 1.0, 1.1 and 2.0, and keeps only 1.1 alive without a
        # Connection field: then the version is known without get_http_version(), which
        # formats a string on every call (a test pins this to llhttp's behaviour).
        if keep_alive and b"connection" not in watched:
            version = "1.1"
        else:
            version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            self._raise(505, f"HTTP version {version} not supported")
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method) or raw_method.decode("ascii")
        if method == "CONNECT":
            self._raise(501, "CONNECT is not supported: porch is not a proxy")
        url = self._url
        if url[:1] == b"/" and b"#" not in url:  # origin-form, by far the most common
            path, _, query = url.partition(b"?")
            host = None
        else:
            path, query, host = self._target(method)
        host_field = watched.get(b"host")
        if host_field is None:
            if version == "1.1":
                self._raise(400, "Missing Host header (required in HTTP/1.1)")
        elif host_field != self._good_host:
            if HOST_SYNTAX.fullmatch(host_field) is None:
                self._raise(400, "Malformed Host header")
            self._good_host = host_field
        if host is None:
            host = host_field
        length = None
        expect = False
        upgrade = None
        if len(watched) > (host_field is not None):  # more than Host: framing fields
            length, expect, upgrade = self._framing(watched, version)
        if upgrade is not None:
            keep_alive = False  # nothing after an Upgrade request is HTTP/1.1
        self._events.append(
            self._head_class(
                method,
                path,
                query,
                version,
                self._headers,
                keep_alive,
                host,
                self._kind,
                length,
                expect,
                upgrade,
            )
        )

    def _framing(
        self, watched: dict[bytes, bytes], version: str
    ) -> tuple[int | None, bool, bytes | None]:
        """Body framing, Expect and Upgrade: (content length, expects 100-continue, upgrade)."""
        length = None
        te = watched.get(b"transfer-encoding")
        if te is not None:
            if version == "1.0":
                self._raise(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request")
            if te.strip().lower() != b"chunked":
                self._raise(501, "Only the 'chunked' transfer coding is supported")
            self._kind = BodyKind.CHUNKED
            self._reset_chunked()
        else:
            raw_length = watched.get(b"content-length")
            if raw_length is not None:
                length = int(raw_length)  # digits only: llhttp refused anything else
                if length > self._limits.body_size:
                    self._raise(413, "Request body too large")
                if length:
                    self._kind = BodyKind.LENGTH
        expect = watched.get(b"expect")
        if expect is not None:
            if expect.lower() != b"100-continue":
                self._raise(417, "Only 'Expect: 100-continue' is supported")
            if version == "1.0":
                expect = None  # RFC 9110 10.1.1: ignored in an HTTP/1.0 request
        upgrade = watched.get(b"upgrade")
        if upgrade is not None:
            if b"upgrade" not in watched.get(b"connection", b"").lower():
                upgrade = None
            elif self._kind != BodyKind.NONE:
                self._raise(400, "A request body is not supported on an Upgrade request")
        return length, expect is not None, upgrade

    def _target(self, method: str) -> tuple[bytes, bytes, bytes | None]:
        """Split the request target; return (path, query, authority from an absolute-form)."""
        url = self._url
        if url[:1] == b"/":
            if b"#" in url:
                self._raise(400, "A fragment (#) is not allowed in the request target")
            path, _, query = url.partition(b"?")
            return path, query, None
        if url == b"*":
            if method != "OPTIONS":
                self._raise(400, "The '*' request target is only allowed with OPTIONS")
            return url, b"", None
        scheme = url[:8].lower()
        if scheme.startswith(b"http://") or scheme == b"https://":
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                self._raise(400, "Invalid absolute request target")
            if parsed.userinfo or parsed.fragment or not parsed.host:
                self._raise(400, "Invalid absolute request target")
            host = parsed.host
            if b":" in host:
                host = b"[" + host + b"]"
            if parsed.port is not None:
                host += b":%d" % parsed.port
            return parsed.path or b"/", parsed.query or b"", host
        self._raise(400, "The request target must be a path (/...) or an absolute http(s) URL")
        raise AssertionError("unreachable")  # pragma: no cover

    def on_body(self, body: bytes) -> None:
        if self._kind == BodyKind.CHUNKED:
            self._body_size += len(body)
            if self._body_size > self._limits.body_size:
                self._raise(413, "Request body too large")
        self._events.append(body)

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_message_complete(self) -> None:
        self._kind = BodyKind.NONE  # between messages no body is in progress
        self._events.append(END)
