"""Response serialisation: status lines, header checks, chunked framing, dates."""

from __future__ import annotations

import email.utils
import re
import time
from datetime import UTC, datetime
from http import HTTPStatus

import pytest

from porch.datastructures import MutableHeaders
from porch.errors import ResponseError
from porch.http.writer import (
    CONTINUE,
    LAST_CHUNK,
    body_allowed,
    check_header,
    chunk,
    error_response,
    http_date,
    render_head,
    status_line,
)

# status lines -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (100, b"HTTP/1.1 100 Continue\r\n"),
        (101, b"HTTP/1.1 101 Switching Protocols\r\n"),
        (200, b"HTTP/1.1 200 OK\r\n"),
        (204, b"HTTP/1.1 204 No Content\r\n"),
        (304, b"HTTP/1.1 304 Not Modified\r\n"),
        (404, b"HTTP/1.1 404 Not Found\r\n"),
        (418, b"HTTP/1.1 418 I'm a Teapot\r\n"),
        (500, b"HTTP/1.1 500 Internal Server Error\r\n"),
        (HTTPStatus.CREATED, b"HTTP/1.1 201 Created\r\n"),
        # unknown codes: an empty reason phrase (RFC 9112 4: reason-phrase may be empty)
        (299, b"HTTP/1.1 299 \r\n"),
        (499, b"HTTP/1.1 499 \r\n"),
        (599, b"HTTP/1.1 599 \r\n"),
    ],
)
def test_status_line(status: int, line: bytes) -> None:
    assert status_line(status) == line


def test_every_known_status_has_its_phrase() -> None:
    for status in HTTPStatus:
        line = status_line(status.value)
        assert line == f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode()
        assert re.fullmatch(rb"HTTP/1\.1 [1-9][0-9]{2} [\t !-~]*\r\n", line)


@pytest.mark.parametrize("status", [0, 1, 99, 1000, 10000, -200, "200", b"200", None, 2.5, True])
def test_invalid_status_raises(status: object) -> None:
    with pytest.raises(ResponseError):
        status_line(status)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "allowed"),
    [(100, False), (101, False), (199, False), (200, True), (204, False), (205, True)]
    + [(301, True), (304, False), (404, True), (500, True)],
)
def test_body_allowed(status: int, allowed: bool) -> None:
    assert body_allowed(status) is allowed


def test_continue_and_last_chunk() -> None:
    assert CONTINUE == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert LAST_CHUNK == b"0\r\n\r\n"


# header checks ------------------------------------------------------------------------------

GOOD_HEADERS = [
    ("content-type", "text/plain; charset=utf-8"),
    ("X-Custom", "value with spaces"),
    ("x-tab", "a\tb"),
    ("x-latin1", "caf\xe9 \xa0\xff"),
    ("x-empty", ""),
    ("x-visible", "".join(chr(c) for c in range(0x21, 0x7F))),
    ("!#$%&'*+-.^_`|~09AZaz", "v"),
    ("set-cookie", 'a="b"; Path=/; HttpOnly'),
]

BAD_VALUES = [
    "a\rb",
    "a\nb",
    "a\r\nSet-Cookie: evil=1",
    "\r\n\r\n<html>",
    "a\x00b",
    "\x01",
    "\x08",
    "\x0b",
    "\x0c",
    "\x1b[31m",
    "\x1f",
    "a\x7f",
    "\u20ac",  # euro sign: not latin-1
    "snow\u2603man",
    "\U0001f600",
]

BAD_NAMES = [
    "",
    "a b",
    "a:b",
    "x-name:",
    "a\rb",
    "a\nb",
    "x\r\nx-injected",
    "a\x00",
    "a\tb",
    "(comment)",
    'a"b',
    "a/b",
    "a@b",
    "a[b]",
    "a{b}",
    "a,b",
    "a;b",
    "a=b",
    "a?b",
    "a\\b",
    "caf\xe9",
    "\u20ac",
    "a\x7f",
]


@pytest.mark.parametrize(("name", "value"), GOOD_HEADERS)
def test_check_header_accepts(name: str, value: str) -> None:
    check_header(name, value)


@pytest.mark.parametrize("value", BAD_VALUES)
def test_check_header_refuses_value(value: str) -> None:
    with pytest.raises(ResponseError):
        check_header("x-header", value)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_check_header_refuses_name(name: str) -> None:
    with pytest.raises(ResponseError):
        check_header(name, "value")


@pytest.mark.parametrize(("name", "value"), [(b"x", "v"), ("x", b"v"), ("x", 1), (1, "v")])
def test_check_header_refuses_non_str(name: object, value: object) -> None:
    with pytest.raises(ResponseError):
        check_header(name, value)  # type: ignore[arg-type]


def test_every_control_character_but_tab_is_refused() -> None:
    for code in [*range(0x20), 0x7F]:
        value = f"a{chr(code)}b"
        if code == 0x09:
            check_header("x", value)
        else:
            with pytest.raises(ResponseError):
                check_header("x", value)


# MutableHeaders validates on every way in ---------------------------------------------------


def _set(headers: MutableHeaders, name: str, value: str) -> None:
    headers[name] = value


def _append(headers: MutableHeaders, name: str, value: str) -> None:
    headers.append(name, value)


def _setdefault(headers: MutableHeaders, name: str, value: str) -> None:
    headers.setdefault(name, value)


def _update_mapping(headers: MutableHeaders, name: str, value: str) -> None:
    headers.update({name: value})


def _update_pairs(headers: MutableHeaders, name: str, value: str) -> None:
    headers.update([(name, value)])


def _init_mapping(headers: MutableHeaders, name: str, value: str) -> None:
    MutableHeaders({name: value})


def _init_pairs(headers: MutableHeaders, name: str, value: str) -> None:
    MutableHeaders([(name, value)])


SETTERS = [_set, _append, _setdefault, _update_mapping, _update_pairs, _init_mapping, _init_pairs]


@pytest.mark.parametrize("setter", SETTERS)
@pytest.mark.parametrize("value", ["a\r\nx-injected: 1", "a\nb", "a\rb", "\x00", "\x1b", "\u20ac"])
def test_mutable_headers_refuse_bad_values(setter, value: str) -> None:
    headers = MutableHeaders([("x-kept", "1")])
    with pytest.raises(ResponseError):
        setter(headers, "x-new", value)
    assert headers.items() == [("x-kept", "1")], "a refused header must not be stored"


@pytest.mark.parametrize("setter", SETTERS)
@pytest.mark.parametrize("name", ["bad name", "x\r\ny", "a:b", "", "caf\xe9"])
def test_mutable_headers_refuse_bad_names(setter, name: str) -> None:
    headers = MutableHeaders([("x-kept", "1")])
    with pytest.raises(ResponseError):
        setter(headers, name, "v")
    assert headers.items() == [("x-kept", "1")]


def test_mutable_headers_semantics() -> None:
    headers = MutableHeaders({"Content-Type": "text/plain"})
    headers.append("Set-Cookie", "a=1")
    headers.append("set-cookie", "b=2")
    assert headers["content-type"] == "text/plain"
    assert headers.getlist("SET-COOKIE") == ["a=1", "b=2"]
    assert "Content-Type" in headers
    assert "x" not in headers
    headers["set-cookie"] = "c=3"
    assert headers.getlist("set-cookie") == ["c=3"]
    assert headers.setdefault("content-type", "text/html") == "text/plain"
    del headers["Content-Type"]
    assert "content-type" not in headers
    with pytest.raises(KeyError):
        del headers["content-type"]
    with pytest.raises(KeyError):
        headers["content-type"]
    assert headers.items() == [("set-cookie", "c=3")]
    assert not headers.framing
    headers["Content-Length"] = "3"
    assert headers.framing


# chunked framing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "framed"),
    [
        (b"a", b"1\r\na\r\n"),
        (b"hello", b"5\r\nhello\r\n"),
        (b"x" * 10, b"a\r\n" + b"x" * 10 + b"\r\n"),
        (b"x" * 255, b"ff\r\n" + b"x" * 255 + b"\r\n"),
        (b"x" * 4096, b"1000\r\n" + b"x" * 4096 + b"\r\n"),
        (b"\r\n0\r\n\r\n", b"7\r\n\r\n0\r\n\r\n\r\n"),
    ],
)
def test_chunk(data: bytes, framed: bytes) -> None:
    assert chunk(data) == framed


def test_chunks_decode_back() -> None:
    pieces = [b"first", b"\r\n", b"x" * 70000, b"0", b"last"]
    wire = b"".join(chunk(p) for p in pieces) + LAST_CHUNK
    decoded = b""
    while True:
        size_line, _, wire = wire.partition(b"\r\n")
        size = int(size_line, 16)
        decoded += wire[:size]
        assert wire[size : size + 2] == b"\r\n"
        wire = wire[size + 2 :]
        if size == 0:
            break
    assert decoded == b"".join(pieces)
    assert wire == b""


# dates --------------------------------------------------------------------------------------

IMF_FIXDATE = re.compile(
    rb"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    rb"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (0, b"Thu, 01 Jan 1970 00:00:00 GMT"),
        (784111777, b"Sun, 06 Nov 1994 08:49:37 GMT"),
        (951782400, b"Tue, 29 Feb 2000 00:00:00 GMT"),
        (1700000000.9, b"Tue, 14 Nov 2023 22:13:20 GMT"),
    ],
)
def test_http_date(timestamp: float, expected: bytes) -> None:
    assert http_date(timestamp) == expected


def test_http_date_now_parses_back() -> None:
    now = time.time()
    value = http_date(now)
    assert IMF_FIXDATE.fullmatch(value), value
    parsed = email.utils.parsedate_to_datetime(value.decode("ascii"))
    assert parsed.tzinfo is not None
    assert parsed == datetime.fromtimestamp(int(now), UTC)


# heads and server-made errors ---------------------------------------------------------------


def test_render_head_orders_lines() -> None:
    head = render_head(
        201,
        [("content-type", "text/plain"), ("set-cookie", "a=1"), ("set-cookie", "b=2")],
        b"date: D\r\nserver: porch\r\n",
        b"content-length: 0\r\n",
    )
    assert head == (
        b"HTTP/1.1 201 Created\r\ndate: D\r\nserver: porch\r\ncontent-type: text/plain\r\n"
        b"set-cookie: a=1\r\nset-cookie: b=2\r\ncontent-length: 0\r\n\r\n"
    )
    assert render_head(204, [], b"", b"") == b"HTTP/1.1 204 No Content\r\n\r\n"


def test_render_head_encodes_latin1() -> None:
    head = render_head(200, [("x", "caf\xe9")], b"", b"")
    assert b"x: caf\xe9\r\n" in head


@pytest.mark.parametrize("close", [True, False])
def test_error_response(close: bool) -> None:
    response = error_response(431, "Too many header fields", b"date: D\r\n", close)
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert b"date: D" in lines
    assert b"content-type: text/plain; charset=utf-8" in lines
    assert b"content-length: %d" % len(body) in lines
    assert (b"connection: close" in lines) is close
    assert body == b"Too many header fields\n"


def test_error_response_detail_is_utf8() -> None:
    response = error_response(400, "bad caf\xe9 \u2603")
    body = response.partition(b"\r\n\r\n")[2]
    assert body == "bad caf\xe9 \u2603\n".encode()
    assert b"content-length: %d\r\n" % len(body) in response
