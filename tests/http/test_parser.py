"""The sans-IO request parser: bytes in, events out (in the style of h11's test_io).

Every valid request is fed whole, one byte at a time, and followed by a second (pipelined)
request; all three must give the same events. Malformed requests must end in one
`ProtocolError` with the right status, after which the parser accepts nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from porch.errors import ProtocolError
from porch.http import END, BodyKind, Limits, RequestHead, RequestParser

HEAD_FIELDS = (
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
DEFAULTS: dict[str, Any] = {
    "method": "GET",
    "raw_path": b"/",
    "query_string": b"",
    "http_version": "1.1",
    "keep_alive": True,
    "host": b"example.com",
    "body_kind": BodyKind.NONE,
    "content_length": None,
    "expect_continue": False,
    "upgrade": None,
}
SECOND = b"GET /second?x=1 HTTP/1.1\r\nHost: second.example\r\n\r\n"
SECOND_EVENTS: list[Any] = [
    (
        "head",
        {
            **DEFAULTS,
            "raw_path": b"/second",
            "query_string": b"x=1",
            "raw_headers": [(b"host", b"second.example")],
            "host": b"second.example",
        },
    ),
    "END",
]


# helpers ------------------------------------------------------------------------------------


def normalize(events: list[object]) -> list[Any]:
    """Events as comparable values: heads as field dicts, adjacent body chunks joined."""
    out: list[Any] = []
    for i, event in enumerate(events):
        if isinstance(event, RequestHead):
            out.append(("head", {name: getattr(event, name) for name in HEAD_FIELDS}))
        elif type(event) is bytes:
            assert event, "the parser must never emit an empty body chunk"
            if out and out[-1][0] == "body":
                out[-1] = ("body", out[-1][1] + event)
            else:
                out.append(("body", event))
        elif event is END:
            out.append("END")
        elif isinstance(event, ProtocolError):
            assert i == len(events) - 1, "a ProtocolError must be the last event"
            out.append(("error", event.status))
        else:
            raise AssertionError(f"unexpected event {event!r}")
    return out


def feed(data: bytes, step: int | None = None, limits: Limits | None = None) -> list[object]:
    """All events for `data`, fed whole (step None) or in pieces of `step` bytes."""
    parser = RequestParser(limits or Limits())
    if step is None:
        return parser.receive_data(data)
    events: list[object] = []
    for i in range(0, len(data), step):
        events += parser.receive_data(data[i : i + step])
    return events


def feed_pieces(parser: RequestParser, pieces: list[bytes]) -> list[object]:
    events: list[object] = []
    for piece in pieces:
        events += parser.receive_data(piece)
    return events


def head(**fields: Any) -> tuple[str, dict[str, Any]]:
    return ("head", {**DEFAULTS, **fields})


# valid requests -----------------------------------------------------------------------------

HOST = (b"host", b"example.com")

VALID = [
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        [head(raw_headers=[HOST]), "END"],
        id="get",
    ),
    pytest.param(
        b"GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
        [
            head(
                raw_path=b"/a/b",
                query_string=b"x=1&y=%20",
                raw_headers=[HOST, (b"accept", b"*/*")],
            ),
            "END",
        ],
        id="get-query",
    ),
    pytest.param(
        b"POST /submit HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 11\r\n\r\nhello world",
        [
            head(
                method="POST",
                raw_path=b"/submit",
                raw_headers=[HOST, (b"content-type", b"text/plain"), (b"content-length", b"11")],
                body_kind=BodyKind.LENGTH,
                content_length=11,
            ),
            ("body", b"hello world"),
            "END",
        ],
        id="post-content-length",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n",
        [
            head(
                method="POST",
                raw_headers=[HOST, (b"content-length", b"0")],
                content_length=0,
            ),
            "END",
        ],
        id="post-empty-content-length",
    ),
    pytest.param(
        b"POST /up HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value;flag\r\nhello\r\n"
        b"1\r\n \r\n"
        b"A\r\n0123456789\r\n"
        b"0;last=1\r\nChecksum: abc\r\nX-Trailer: 1\r\n\r\n",
        [
            head(
                method="POST",
                raw_path=b"/up",
                raw_headers=[HOST, (b"transfer-encoding", b"chunked")],
                body_kind=BodyKind.CHUNKED,
            ),
            ("body", b"hello 0123456789"),
            "END",
        ],
        id="chunked-extensions-trailers",
    ),
    pytest.param(
        b"PUT /x HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\n"
        b"Content-Length: 3\r\n\r\nabc",
        [
            head(
                method="PUT",
                raw_path=b"/x",
                raw_headers=[HOST, (b"expect", b"100-continue"), (b"content-length", b"3")],
                body_kind=BodyKind.LENGTH,
                content_length=3,
                expect_continue=True,
            ),
            ("body", b"abc"),
            "END",
        ],
        id="expect-100-continue",
    ),
    pytest.param(
        b"GET /old HTTP/1.0\r\n\r\n",
        [
            head(
                raw_path=b"/old",
                http_version="1.0",
                raw_headers=[],
                keep_alive=False,
                host=None,
            ),
            "END",
        ],
        id="http10-close",
    ),
    pytest.param(
        b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\nHost: example.com\r\n\r\n",
        [
            head(
                raw_path=b"/old",
                http_version="1.0",
                raw_headers=[(b"connection", b"keep-alive"), HOST],
                keep_alive=True,
            ),
            "END",
        ],
        id="http10-keep-alive",
    ),
    pytest.param(
        b"POST /form HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
        [
            head(
                method="POST",
                raw_path=b"/form",
                http_version="1.0",
                raw_headers=[(b"content-length", b"5")],
                keep_alive=False,
                host=None,
                body_kind=BodyKind.LENGTH,
                content_length=5,
            ),
            ("body", b"hello"),
            "END",
        ],
        id="http10-post-without-host",
    ),
    pytest.param(
        b"POST /form HTTP/1.0\r\nHost: example.com\r\nContent-Length: 2\r\n"
        b"Expect: 100-continue\r\n\r\nhi",
        [
            head(
                method="POST",
                raw_path=b"/form",
                http_version="1.0",
                raw_headers=[HOST, (b"content-length", b"2"), (b"expect", b"100-continue")],
                keep_alive=False,
                body_kind=BodyKind.LENGTH,
                content_length=2,
                expect_continue=False,  # RFC 9110 10.1.1: ignored in HTTP/1.0
            ),
            ("body", b"hi"),
            "END",
        ],
        id="http10-expect-ignored",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
        [head(raw_headers=[HOST, (b"connection", b"close")], keep_alive=False), "END"],
        id="connection-close",
    ),
    pytest.param(
        b"GET http://example.com:8080/p?q HTTP/1.1\r\nHost: other.example\r\n\r\n",
        [
            head(
                raw_path=b"/p",
                query_string=b"q",
                raw_headers=[(b"host", b"other.example")],
                host=b"example.com:8080",
            ),
            "END",
        ],
        id="absolute-form",
    ),
    pytest.param(
        b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
        [head(raw_headers=[HOST]), "END"],
        id="absolute-form-no-path",
    ),
    pytest.param(
        b"OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
        [head(method="OPTIONS", raw_path=b"*", raw_headers=[HOST]), "END"],
        id="options-asterisk",
    ),
    pytest.param(
        b"\r\n\r\nGET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        [head(raw_headers=[HOST]), "END"],
        id="leading-crlf",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Name: caf\xe9 \x80\xff!\r\n\r\n",
        [head(raw_headers=[HOST, (b"x-name", b"caf\xe9 \x80\xff!")]), "END"],
        id="obs-text",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Tab: a\tb\r\n\r\n",
        [head(raw_headers=[HOST, (b"x-tab", b"a\tb")]), "END"],
        id="tab-in-value",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost:example.com \t \r\nX-Pad:  \t padded \t \r\nX-Empty:\r\n\r\n",
        [head(raw_headers=[HOST, (b"x-pad", b"padded"), (b"x-empty", b"")]), "END"],
        id="whitespace-stripped",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHOST: example.com\r\nX-MiXeD-CaSe: KeepsValueCase\r\n\r\n",
        [head(raw_headers=[HOST, (b"x-mixed-case", b"KeepsValueCase")]), "END"],
        id="names-lowercased",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: example.com\r\n"
        + b"".join(b"X-H%02d: value %d\r\n" % (i, i) for i in range(60))
        + b"Cookie: a=1\r\nCookie: b=2\r\n\r\n",
        [
            head(
                raw_headers=[HOST]
                + [(b"x-h%02d" % i, b"value %d" % i) for i in range(60)]
                + [(b"cookie", b"a=1"), (b"cookie", b"b=2")]
            ),
            "END",
        ],
        id="many-headers",
    ),
    pytest.param(
        b"GET /caf%C3%A9/a%2Fb%20c?q=%26 HTTP/1.1\r\nHost: example.com\r\n\r\n",
        [
            head(raw_path=b"/caf%C3%A9/a%2Fb%20c", query_string=b"q=%26", raw_headers=[HOST]),
            "END",
        ],
        id="percent-encoded-path",
    ),
    pytest.param(
        b"DELETE /item/7 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
        [
            head(
                method="DELETE",
                raw_path=b"/item/7",
                raw_headers=[(b"host", b"[::1]:8080")],
                host=b"[::1]:8080",
            ),
            "END",
        ],
        id="ipv6-host",
    ),
    pytest.param(
        b"PROPFIND /dav HTTP/1.1\r\nHost: example.com\r\n\r\n",
        [head(method="PROPFIND", raw_path=b"/dav", raw_headers=[HOST]), "END"],
        id="other-method",
    ),
]


@pytest.mark.parametrize(("raw", "expected"), VALID)
@pytest.mark.parametrize("mode", ["whole", "bytewise", "pipelined"])
def test_valid_request(raw: bytes, expected: list[Any], mode: str) -> None:
    if mode == "whole":
        events = feed(raw)
    elif mode == "bytewise":
        events = feed(raw, 1)
    else:
        events = feed(raw + SECOND)
        head_fields = expected[0][1]
        if head_fields["keep_alive"]:
            expected = expected + SECOND_EVENTS
        else:  # nothing may follow a request that ends the connection
            expected = expected + [("error", 400)]
    assert normalize(events) == expected


KEEP_ALIVE = [p for p in VALID if p.values[1][0][1]["keep_alive"]]


@pytest.mark.parametrize(("raw", "expected"), KEEP_ALIVE)
def test_valid_request_pipelined_bytewise(raw: bytes, expected: list[Any]) -> None:
    assert normalize(feed(raw + SECOND + raw, 1)) == expected + SECOND_EVENTS + expected


def test_head_class_is_used() -> None:
    class MyHead(RequestHead):
        __slots__ = ()

    parser = RequestParser(Limits(), MyHead)
    events = parser.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert type(events[0]) is MyHead
    assert events[1] is END


def test_in_head_tracks_a_partial_head() -> None:
    parser = RequestParser(Limits())
    assert not parser.in_head
    assert parser.receive_data(b"GET / HTTP/1.1\r\nHo") == []
    assert parser.in_head
    events = parser.receive_data(b"st: a\r\n\r\n")
    assert [type(e) for e in events] == [RequestHead, type(END)]
    assert not parser.in_head
    assert not parser.finished


def test_body_chunks_arrive_as_they_come() -> None:
    """The body is streamed: each piece is an event as soon as it is received."""
    parser = RequestParser(Limits())
    events = parser.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nab")
    assert isinstance(events[0], RequestHead)
    assert events[1:] == [b"ab"]
    assert parser.receive_data(b"cd") == [b"cd"]
    assert parser.receive_data(b"ef") == [b"ef", END]


# errors -------------------------------------------------------------------------------------

ERRORS = [
    # 400: framing and syntax
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="missing-host"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, id="two-hosts"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, id="host-space"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, id="host-slash"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400, id="host-userinfo"),
    pytest.param(b"GET /#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="fragment"),
    pytest.param(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="asterisk-not-options"),
    pytest.param(b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="other-scheme"),
    pytest.param(b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="absolute-userinfo"),
    pytest.param(b"GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="absolute-no-host"),
    pytest.param(b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="relative-target"),
    pytest.param(b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, id="ctl-in-target"),
    pytest.param(b"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", 400, id="junk-after-version"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400, id="obs-fold"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n", 400, id="space-before-colon"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400, id="bare-lf"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, id="bare-cr"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, id="nul-in-value"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400, id="ctl-in-value"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400, id="del-in-value"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nX(: b\r\n\r\n", 400, id="non-token-name"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400, id="empty-name"),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        400,
        id="duplicate-content-length",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
        id="content-length-and-chunked",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, id="negative-length"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx", 400, id="plus-length"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\nx", 400, id="junk-length"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        400,
        id="chunked-twice",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
        id="bad-chunk-size",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n",
        400,
        id="bad-chunk-end",
    ),
    pytest.param(
        b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        id="http10-transfer-encoding",
    ),
    pytest.param(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        id="http10-transfer-encoding-no-host",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Content-Length: 2\r\n\r\nxx",
        400,
        id="upgrade-with-body",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        400,
        id="length-overflow",
    ),
    # 413, 414, 431 with default limits
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10485761\r\n\r\n",
        413,
        id="declared-body-too-large",
    ),
    pytest.param(
        b"GET /" + b"a" * 8190 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414, id="target-too-long"
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * 100 + b"\r\n", 431, id="too-many-headers"
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 32768 + b"\r\n\r\n",
        431,
        id="header-too-large",
    ),
    # 417, 501, 505
    pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417, id="expect-other"),
    pytest.param(b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501, id="unknown-method"),
    pytest.param(b"get / HTTP/1.1\r\nHost: a\r\n\r\n", 501, id="lowercase-method"),
    pytest.param(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501, id="connect"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 501, id="tls-client-hello"),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, id="gzip-coding"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
        id="gzip-chunked-coding",
    ),
    pytest.param(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, id="http2"),
    pytest.param(b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, id="http09"),
]


@pytest.mark.parametrize(("raw", "status"), ERRORS)
@pytest.mark.parametrize("step", [None, 1], ids=["whole", "bytewise"])
def test_error(raw: bytes, status: int, step: int | None) -> None:
    parser = RequestParser(Limits())
    if step is None:
        events = parser.receive_data(raw)
    else:
        events = feed_pieces(parser, [raw[i : i + 1] for i in range(len(raw))])
    assert events, "no event at all for a malformed request"
    error = events[-1]
    assert isinstance(error, ProtocolError), normalize(events)
    assert error.status == status, error
    assert error.blame == "client"
    assert error.detail
    normalize(events)  # the error is the only ProtocolError, and the last event
    assert not any(e is END for e in events), "a broken request must not be completed"
    assert parser.finished
    assert not parser.in_head
    assert parser.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == []
    assert parser.receive_data(b"\r\n") == []


def test_error_after_a_good_request_keeps_the_good_one() -> None:
    events = normalize(
        feed(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/2.0\r\nHost: a\r\n\r\n")
    )
    assert [e[0] for e in events] == ["head", "E", "error"]
    assert events[0][1]["raw_path"] == b"/ok"
    assert events[2] == ("error", 505)


# limits -------------------------------------------------------------------------------------

SMALL = Limits(request_line=64, header_size=120, header_count=4, body_size=10)


def target_of(length: int) -> bytes:
    return b"/" + b"t" * (length - 1)


def with_headers(count: int, size: int, target: bytes = b"/", method: bytes = b"GET") -> bytes:
    """A request with exactly `count` fields whose names and values total `size` bytes."""
    fields = [(b"Host", b"a")]
    used = 5
    for i in range(count - 1):
        name = b"X%d" % i
        fields.append((name, b""))
        used += len(name)
    assert used <= size
    name, value = fields[-1]
    fields[-1] = (name, value + b"v" * (size - used))
    lines = b"".join(n + b": " + v + b"\r\n" for n, v in fields)
    return method + b" " + target + b" HTTP/1.1\r\n" + lines + b"\r\n"


def outcome(raw: bytes, limits: Limits, step: int | None) -> list[Any]:
    return normalize(feed(raw, step, limits))


def accepted(raw: bytes) -> list[Any]:
    return [("head", normalize(feed(raw))[0][1]), "END"]


LIMIT_CASES = [
    pytest.param(with_headers(1, 5, target_of(64)), None, id="target-at-limit"),
    pytest.param(with_headers(1, 5, target_of(65)), 414, id="target-over-limit"),
    pytest.param(with_headers(4, 20), None, id="count-at-limit"),
    pytest.param(with_headers(5, 20), 431, id="count-over-limit"),
    pytest.param(with_headers(2, 120), None, id="size-at-limit"),
    pytest.param(with_headers(2, 121), 431, id="size-over-limit"),
    pytest.param(with_headers(4, 120, target_of(64)), None, id="every-limit-at-once"),
    pytest.param(
        with_headers(4, 120, target_of(64), b"OPTIONS"), None, id="every-limit-at-once-options"
    ),
    pytest.param(with_headers(3, 120, target_of(64)), None, id="target-size-and-3-fields"),
]


@pytest.mark.parametrize(("raw", "status"), LIMIT_CASES)
@pytest.mark.parametrize("step", [None, 1, 7], ids=["whole", "bytewise", "by7"])
def test_head_limits(raw: bytes, status: int | None, step: int | None) -> None:
    expected = accepted(raw) if status is None else [("error", status)]
    assert outcome(raw, SMALL, step) == expected


@pytest.mark.parametrize("step", [None, 1, 1000], ids=["whole", "bytewise", "by1000"])
def test_default_limits_all_at_once(step: int | None) -> None:
    """A request exactly at every default limit is accepted however it is segmented."""
    limits = Limits()
    raw = with_headers(limits.header_count, limits.header_size, target_of(limits.request_line))
    assert outcome(raw, limits, step) == accepted(raw)
    over = with_headers(limits.header_count, limits.header_size + 1, target_of(100))
    assert outcome(over, limits, step) == [("error", 431)]


def content_length_request(size: int) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size + b"b" * size


def chunked_request(sizes: list[int]) -> bytes:
    chunks = b"".join(b"%x\r\n%s\r\n" % (n, b"c" * n) for n in sizes)
    return (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )


@pytest.mark.parametrize("step", [None, 1, 3], ids=["whole", "bytewise", "by3"])
def test_body_size_limit_content_length(step: int | None) -> None:
    ok = outcome(content_length_request(10), SMALL, step)
    assert ok[1:] == [("body", b"b" * 10), "END"]
    assert ok[0][1]["content_length"] == 10
    # a declared length over the limit is refused before any body byte
    assert outcome(content_length_request(11), SMALL, step) == [("error", 413)]


@pytest.mark.parametrize("sizes", [[10], [4, 6], [1] * 10])
@pytest.mark.parametrize("step", [None, 1, 3], ids=["whole", "bytewise", "by3"])
def test_body_size_limit_chunked(sizes: list[int], step: int | None) -> None:
    ok = outcome(chunked_request(sizes), SMALL, step)
    assert ok[1:] == [("body", b"c" * 10), "END"]
    over = outcome(chunked_request([*sizes[:-1], sizes[-1] + 1]), SMALL, step)
    assert over[0][0] == "head"
    assert over[-1] == ("error", 413)
    streamed = b"".join(e[1] for e in over if e[0] == "body")
    assert len(streamed) <= SMALL.body_size, "more body than the limit was passed on"


def test_trailers_count_against_the_header_limits() -> None:
    def trailers(count: int, value: bytes = b"v") -> bytes:
        fields = b"".join(b"T%d: %s\r\n" % (i, value) for i in range(count))
        return (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
            + fields
            + b"\r\n"
        )

    # host + transfer-encoding are 2 of the 4 fields allowed
    assert outcome(trailers(2), SMALL, None)[-1] == "END"
    assert outcome(trailers(3), SMALL, None)[-1] == ("error", 431)
    # host(5) + transfer-encoding(24) + T0(2) = 31 bytes; 120 - 31 = 89 left for the value
    assert outcome(trailers(1, b"v" * 89), SMALL, None)[-1] == "END"
    assert outcome(trailers(1, b"v" * 90), SMALL, None)[-1] == ("error", 431)


@pytest.mark.parametrize(
    "start",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless: ",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless-Name",
        b"GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nC: d\r\nX: ",
    ],
    ids=["value", "name", "after-fields"],
)
@pytest.mark.parametrize("limits", [Limits(), SMALL], ids=["default", "small"])
def test_pending_bytes_cap(start: bytes, limits: Limits) -> None:
    """A header piece that never ends is refused before porch buffers much more than the
    limits, even though httptools reports nothing until the piece is complete."""
    parser = RequestParser(limits)
    events = parser.receive_data(start)
    fed = len(start)
    bound = limits.request_line + limits.header_size + 4096
    while not events and fed <= bound:
        events = parser.receive_data(b"v" * 97)
        fed += 97
    assert normalize(events) == [("error", 431)], f"fed {fed} bytes"
    assert fed <= bound
    assert parser.receive_data(b"\r\n\r\n") == []


@pytest.mark.parametrize("limits", [Limits(), SMALL], ids=["default", "small"])
def test_pending_bytes_cap_on_the_target(limits: Limits) -> None:
    parser = RequestParser(limits)
    events = parser.receive_data(b"GET /")
    fed = 5
    while not events and fed <= limits.request_line + 4096:
        events = parser.receive_data(b"t" * 13)
        fed += 13
    assert normalize(events) == [("error", 414)]
    assert fed <= limits.request_line + 4096


@pytest.mark.parametrize(
    ("start", "piece"),
    [
        (b"5;", b"e" * 97),
        (b"5;name=", b"v" * 97),
        (b'5;name="', b"q" * 97),
        (b"", b"0" * 97),
        (b"0\r\nX-Trailer: ", b"v" * 97),
        (b"0\r\nX-Trailer-Name", b"n" * 97),
        (b"3\r\nabc\r\n0\r\nA: b\r\nX: ", b"v" * 97),
    ],
    ids=["extension-name", "extension-value", "quoted-extension", "size-zeros"]
    + ["trailer-value", "trailer-name", "after-trailer"],
)
@pytest.mark.parametrize("limits", [Limits(), SMALL], ids=["default", "small"])
def test_chunked_framing_cap(start: bytes, piece: bytes, limits: Limits) -> None:
    """Chunk lines, extensions and trailers that never end are refused early too."""
    parser = RequestParser(limits)
    head_events = parser.receive_data(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert isinstance(head_events[0], RequestHead)
    events = parser.receive_data(start)
    fed = len(start)
    bound = limits.header_size + 4096
    while not parser.finished and fed <= bound:
        events += parser.receive_data(piece)
        fed += len(piece)
    errors = [e for e in normalize(events) if e[0] == "error"]
    assert errors == [("error", 431)], f"fed {fed} bytes"
    assert fed <= bound
    assert parser.receive_data(b"\r\n\r\n") == []


@pytest.mark.parametrize("step", [None, 1, 4096], ids=["whole", "bytewise", "by4096"])
def test_many_small_chunks_with_extensions_are_fine(step: int | None) -> None:
    """The framing cap is per chunk: a long body of tiny chunks is not refused."""
    limits = Limits(header_size=120, body_size=100_000)
    count = 3000
    body = b"".join(b"1;ext=value\r\n%c\r\n" % (97 + i % 26) for i in range(count))
    raw = (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        + body
        + b"0;end=1\r\nX-Sum: 1\r\n\r\n"
        + SECOND
    )
    events = normalize(feed(raw, step, limits))
    expected_body = bytes(97 + i % 26 for i in range(count))
    assert events[1:] == [("body", expected_body), "END", *SECOND_EVENTS]


# upgrade ------------------------------------------------------------------------------------


UPGRADE = (
    b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
    b"Connection: keep-alive, Upgrade\r\n\r\n"
)
AFTER_UPGRADE = b"\x81\x05hello-GET / HTTP/1.1\r\n\r\n"


@pytest.mark.parametrize(
    ("pieces", "upgrade_data"),
    [
        pytest.param([UPGRADE + AFTER_UPGRADE], AFTER_UPGRADE, id="whole"),
        pytest.param([UPGRADE[:-1], UPGRADE[-1:] + AFTER_UPGRADE], AFTER_UPGRADE, id="split"),
        pytest.param([UPGRADE[:10], UPGRADE[10:] + b"\x81"], b"\x81", id="one-byte-after"),
        pytest.param([UPGRADE[i : i + 1] for i in range(len(UPGRADE))], b"", id="bytewise"),
    ],
)
def test_upgrade(pieces: list[bytes], upgrade_data: bytes) -> None:
    parser = RequestParser(Limits())
    events: list[object] = []
    for piece in pieces:
        assert parser.upgrade_data is None
        events += parser.receive_data(piece)
    head_event = events[0]
    assert isinstance(head_event, RequestHead)
    assert head_event.upgrade == b"websocket"
    assert head_event.keep_alive is False
    assert events[1:] == [END]
    assert parser.finished
    assert parser.upgrade_data == upgrade_data
    assert parser.receive_data(b"more") == []


def test_upgrade_header_without_connection_upgrade_is_ignored() -> None:
    parser = RequestParser(Limits())
    events = parser.receive_data(
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n" + SECOND
    )
    assert events[0].upgrade is None
    assert events[0].keep_alive is True
    assert normalize(events)[1:] == ["END", *SECOND_EVENTS]
    assert parser.upgrade_data is None
    assert not parser.finished


# properties ---------------------------------------------------------------------------------

STREAM = b"".join(
    raw
    for raw, expected in (p.values for p in VALID)
    if expected[0][1]["keep_alive"] and expected[0][1]["upgrade"] is None
)
STREAM_EVENTS = normalize(feed(STREAM))


def test_stream_is_all_valid() -> None:
    assert STREAM_EVENTS[-1] == "END"
    assert sum(1 for e in STREAM_EVENTS if e[0] == "head") > 10


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_random_splits_give_the_same_events(cuts: list[int]) -> None:
    points = sorted({0, len(STREAM), *cuts})
    pieces = [STREAM[a:b] for a, b in zip(points, points[1:], strict=False)]
    assert normalize(feed_pieces(RequestParser(Limits()), pieces)) == STREAM_EVENTS


PREFIXES = [
    b"",
    b"GET / HTTP/1.1\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\n",
    *(p.values[0] for p in VALID),
]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(PREFIXES),
    st.lists(st.binary(max_size=64), max_size=8),
)
def test_random_bytes_give_events_or_an_error(prefix: bytes, garbage: list[bytes]) -> None:
    parser = RequestParser(SMALL)
    events: list[object] = []
    for piece in [prefix, *garbage]:
        events += parser.receive_data(piece)
    normalized = normalize(events)  # valid event types, error only last, no empty chunks
    if normalized and normalized[-1][0] == "error":
        assert normalized[-1][1] in (400, 413, 414, 417, 431, 501, 505)
        assert parser.finished
        assert parser.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n") == []
    # a body chunk or END only ever follows a head
    seen_head = False
    for event in normalized:
        if event == "END" or event[0] == "body":
            assert seen_head, normalized
        elif event[0] == "head":
            seen_head = True


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        ("1.1", None, True),
        ("1.1", "close", False),
        ("1.1", "keep-alive", True),
        ("1.0", None, False),
        ("1.0", "keep-alive", True),
        ("1.0", "close", False),
    ],
)
def test_version_and_keep_alive_from_llhttp(version, connection, keep_alive):
    """The parser takes the version from llhttp's keep-alive flag when it can; this pins
    that shortcut to what llhttp does for every version and Connection it accepts."""
    head = f"GET / HTTP/{version}\r\nHost: a\r\n"
    if connection:
        head += f"Connection: {connection}\r\n"
    events = RequestParser(Limits()).receive_data((head + "\r\n").encode())
    assert events[0].http_version == version
    assert events[0].keep_alive is keep_alive


@pytest.mark.parametrize("version", ["0.9", "2.0"])
def test_versions_llhttp_accepts_but_porch_refuses(version):
    data = f"GET / HTTP/{version}\r\nHost: a\r\n\r\n".encode()
    events = RequestParser(Limits()).receive_data(data)
    assert isinstance(events[-1], ProtocolError)
    assert events[-1].status == 505
