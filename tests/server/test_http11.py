"""HTTP/1.1 connection behaviour of the real server, over real sockets.

Keep-alive, pipelining, chunked bodies both ways, Expect: 100-continue, HEAD and bodiless
statuses, what the client sees when an app fails, the access log, and the request API.
"""

from __future__ import annotations

import asyncio
import json
import re
import select
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from porch import (
    HTTPError,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Request,
    Response,
    StreamingResponse,
)
from porch.server.accesslog import escape
from porch.server.protocol import HTTPProtocol
from porch.tasks import EAGER
from tests.conftest import Reader, exchange, recv_all
from tests.server.capture import capture

TIMEOUT = 5.0


def get(path: str = "/", *headers: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: test", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def post(path: str, body: bytes, *headers: str, version: str = "1.1") -> bytes:
    head = get(path, f"Content-Length: {len(body)}", *headers, method="POST", version=version)
    return head + body


def split_head(raw: bytes) -> tuple[list[bytes], bytes]:
    """The head lines (status line first) and the rest of a raw response."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete head in {raw[:300]!r}"
    return head.split(b"\r\n"), rest


def header_names(lines: list[bytes]) -> list[bytes]:
    return [line.partition(b":")[0].lower() for line in lines[1:]]


def assert_closed(sock: socket.socket) -> None:
    """The server closes the connection and sends nothing more."""
    assert recv_all(sock, TIMEOUT) == b""


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = sock.recv(size - len(data))
        assert piece, f"connection closed after {data!r}"
        data += piece
    return data


async def echo(request: Request) -> Response:
    """Method, path and query, then the request body."""
    body = await request.body()
    text = f"{request.method} {request.path} {request.query_string.decode()}\n"
    return Response(text.encode() + body, media_type="text/plain")


# keep-alive ---------------------------------------------------------------------------------


def test_http11_keep_alive_by_default(serve) -> None:
    with serve(echo) as srv, srv.connect() as sock:
        reader = Reader(sock)
        for i in range(5):
            sock.sendall(get(f"/n{i}"))
            status, headers, body = reader.response()
            assert status == 200
            assert body == f"GET /n{i} \n".encode()
            assert "connection" not in headers
            assert headers["content-length"] == str(len(body))
        sock.sendall(post("/last", b"payload"))
        assert reader.response()[2] == b"POST /last \npayload"
        assert reader.buf == b""


def test_http10_keep_alive_on_request(serve) -> None:
    with serve(echo) as srv, srv.connect() as sock:
        reader = Reader(sock)
        for i in range(3):
            sock.sendall(get(f"/k{i}", "Connection: keep-alive", version="1.0"))
            status, headers, body = reader.response()
            assert status == 200
            assert headers["connection"] == "keep-alive"
            assert body == f"GET /k{i} \n".encode()
        sock.sendall(get("/bye", version="1.0"))
        status, headers, body = reader.response()
        assert headers["connection"] == "close"
        assert body == b"GET /bye \n"
        assert_closed(sock)


def test_http10_closes_by_default(serve) -> None:
    with serve(echo) as srv:
        raw = exchange(srv.port, get("/", version="1.0") + get("/never", version="1.0"))
    lines, body = split_head(raw)
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"connection: close" in lines
    assert body == b"GET / \n", "only the first request may be answered"


@pytest.mark.parametrize("value", ["close", "Close", "keep-alive, close"])
def test_connection_close_closes_after_the_response(serve, value: str) -> None:
    with serve(echo) as srv:
        raw = exchange(srv.port, get("/a", f"Connection: {value}") + get("/never"))
    lines, body = split_head(raw)
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"connection: close" in lines
    assert body == b"GET /a \n"


# pipelining ---------------------------------------------------------------------------------


async def sometimes_awaits(request: Request) -> Response:
    number = int(request.path.strip("/"))
    if number % 3 == 1:
        await asyncio.sleep(0)
    if number % 3 == 2:
        for _ in range(number):
            await asyncio.sleep(0)
    return Response(b"response %d" % number)


@pytest.mark.parametrize("count", [10, 40])
def test_pipelined_requests_answered_in_order(serve, count: int) -> None:
    with serve(sometimes_awaits) as srv, srv.connect() as sock:
        sock.sendall(b"".join(get(f"/{i}") for i in range(count)))
        reader = Reader(sock)
        bodies = [reader.response()[2] for _ in range(count)]
        assert bodies == [b"response %d" % i for i in range(count)]
        sock.sendall(get("/7"))
        assert reader.response()[2] == b"response 7"
        assert reader.buf == b""


def test_pipelined_mixed_methods_and_bodies(serve) -> None:
    requests = [
        post("/p1", b"one"),
        get("/g1", method="HEAD"),
        get("/g2?x=1"),
        b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        post("/p2", b""),
        get("/g3"),
    ]
    with serve(echo) as srv, srv.connect() as sock:
        sock.sendall(b"".join(requests))
        reader = Reader(sock)
        got = [
            reader.response()[2],
            reader.response(head_only=True)[2],
            reader.response()[2],
            reader.response()[2],
            reader.response()[2],
            reader.response()[2],
        ]
        assert got == [
            b"POST /p1 \none",
            b"",
            b"GET /g2 x=1\n",
            b"POST /c \nabc",
            b"POST /p2 \n",
            b"GET /g3 \n",
        ]


class _CountingTransport:
    """Wraps a transport to record every write."""

    def __init__(self, transport: Any, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@pytest.mark.skipif(not EAGER, reason="answering inline needs eager tasks (Python 3.12+)")
def test_inline_pipelined_responses_leave_in_one_write(serve, monkeypatch) -> None:
    writes: list[bytes] = []
    receives: list[int] = []
    made = HTTPProtocol.connection_made
    received = HTTPProtocol.data_received

    def connection_made(self: HTTPProtocol, transport: Any) -> None:
        made(self, _CountingTransport(transport, writes))

    def data_received(self: HTTPProtocol, data: bytes) -> None:
        receives.append(len(data))
        received(self, data)

    monkeypatch.setattr(HTTPProtocol, "connection_made", connection_made)
    monkeypatch.setattr(HTTPProtocol, "data_received", data_received)

    async def inline(request: Request) -> Response:
        return Response(request.path.encode())

    payload = b"".join(get(f"/{i}") for i in range(10))
    with serve(inline) as srv, srv.connect() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.sendall(payload)
        readable, _, _ = select.select([sock], [], [], TIMEOUT)
        assert readable, "no response"
        first = sock.recv(1 << 20)
        reader = Reader(sock)
        reader.buf = first
        bodies = [reader.response()[2] for _ in range(10)]
        assert bodies == [b"/%d" % i for i in range(10)]
    # Every data_received that completed requests produced exactly one write.
    assert len(writes) == len(receives), (receives, [len(w) for w in writes])
    if receives == [len(payload)]:
        # The ten requests arrived together: the ten answers left in one write, and the
        # client had all of them after its first recv.
        assert first == writes[0]
        assert reader.buf == b""


# chunked request bodies ---------------------------------------------------------------------

CHUNKED_PIECES = [
    b"POST /upload?k=v HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n",
    b"Content-Type: application/octet-stream\r\n\r\n",
    b"5;name=value\r\nhello\r\n",
    b"1;flag\r\n \r\n",
    b"1A\r\n" + bytes(range(0x41, 0x41 + 26)) + b"\r\n",
    b"4\r\n\r\n\r\n\r\n",
    b"3\r\n\x00\xff\n\r\n",
    b"0;done=1\r\nX-Checksum: 123\r\nX-Other: z\r\n\r\n",
]
CHUNKED_BODY = b"hello " + bytes(range(0x41, 0x41 + 26)) + b"\r\n\r\n" + b"\x00\xff\n"


async def echo_body(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


async def echo_stream(request: Request) -> Response:
    parts = [piece async for piece in request.stream()]
    assert all(parts)
    return Response(b"".join(parts), headers={"x-pieces": str(len(parts))})


@pytest.mark.parametrize("app", [echo_body, echo_stream])
@pytest.mark.parametrize("together", [True, False], ids=["one-write", "piece-by-piece"])
def test_chunked_request_body_echoed(serve, app: Any, together: bool) -> None:
    with serve(app) as srv, srv.connect() as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if together:
            sock.sendall(b"".join(CHUNKED_PIECES))
        else:
            for piece in CHUNKED_PIECES:
                sock.sendall(piece)
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert status == 200
        assert body == CHUNKED_BODY
        assert headers["content-length"] == str(len(CHUNKED_BODY))
        # the trailers were consumed: the connection goes on with the next request
        sock.sendall(b"".join(CHUNKED_PIECES))
        assert reader.response()[2] == CHUNKED_BODY


def test_large_body_read_in_pieces(serve) -> None:
    async def count(request: Request) -> Response:
        total = 0
        async for piece in request.stream():
            total += len(piece)
        return JSONResponse({"bytes": total})

    body = bytes(range(256)) * 8192  # 2 MiB, more than the body high-water mark
    with serve(count) as srv, srv.connect() as sock:
        sock.sendall(post("/", body) + get("/after"))
        reader = Reader(sock)
        assert json.loads(reader.response()[2]) == {"bytes": len(body)}
        assert json.loads(reader.response()[2]) == {"bytes": 0}


# streamed responses -------------------------------------------------------------------------


async def _agen() -> AsyncIterator[bytes | str]:
    yield b"hello "
    await asyncio.sleep(0)
    yield ""
    yield "caf\xe9 "
    yield b"x" * 300


STREAM_WIRE = b"6\r\nhello \r\n6\r\ncaf\xc3\xa9 \r\n12c\r\n" + b"x" * 300 + b"\r\n0\r\n\r\n"
STREAM_BODY = b"hello caf\xc3\xa9 " + b"x" * 300


def _streaming_app(kind: str) -> Any:
    async def app(request: Request) -> Response:
        if kind == "async":
            return StreamingResponse(_agen(), media_type="text/plain")
        return StreamingResponse([b"hello ", b"", "caf\xe9 ", b"x" * 300], media_type="text/plain")

    return app


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_chunked_response_framing(serve, kind: str) -> None:
    with serve(_streaming_app(kind)) as srv, srv.connect() as sock:
        sock.sendall(get("/"))
        reader = Reader(sock)
        while b"0\r\n\r\n" not in reader.buf:
            reader._more()
        lines, rest = split_head(reader.buf)
        assert lines[0] == b"HTTP/1.1 200 OK"
        assert b"transfer-encoding: chunked" in lines
        assert b"content-type: text/plain; charset=utf-8" in lines
        assert b"content-length" not in header_names(lines)
        assert b"connection" not in header_names(lines)
        assert rest == STREAM_WIRE
        # the connection is reusable after the last chunk
        reader.buf = b""
        sock.sendall(get("/"))
        status, headers, body = reader.response()
        assert body == STREAM_BODY
        assert reader.buf == b""


def test_streaming_response_with_app_content_length(serve) -> None:
    async def app(request: Request) -> Response:
        pieces = [b"abc", b"defg", b"h"]
        return StreamingResponse(pieces, headers={"Content-Length": "8", "X-Kept": "yes"})

    with serve(app) as srv, srv.connect() as sock:
        reader = Reader(sock)
        for _ in range(2):
            sock.sendall(get("/"))
            status, headers, body = reader.response()
            assert status == 200
            assert headers["content-length"] == "8"
            assert "transfer-encoding" not in headers
            assert "connection" not in headers
            assert headers["x-kept"] == "yes"
            assert body == b"abcdefgh"
            assert reader.buf == b""


@pytest.mark.parametrize("awaits", [False, True], ids=["inline-app", "awaiting-app"])
@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_pipelined_request_after_a_streaming_response(serve, awaits: bool, framing: str) -> None:
    """The request queued behind a streamed response is answered once the stream ends."""

    async def app(request: Request) -> Response:
        if awaits:
            await asyncio.sleep(0)
        if request.path == "/plain":
            return Response(b"plain")
        headers = {"content-length": "6"} if framing == "content-length" else None
        return StreamingResponse([b"str", b"eam"], headers=headers)

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(get("/stream") + get("/plain") + get("/stream"))
        reader = Reader(sock)
        bodies = [reader.response()[2] for _ in range(3)]
        assert bodies == [b"stream", b"plain", b"stream"]


@pytest.mark.parametrize("pieces", [[b"abc"], [b"abc", b"defghij"]], ids=["short", "long"])
def test_streaming_response_breaking_its_content_length_closes(serve, pieces) -> None:
    async def app(request: Request) -> Response:
        return StreamingResponse(pieces, headers={"content-length": "5"})

    with serve(app) as srv:
        raw = exchange(srv.port, get("/") + get("/never"))
    lines, body = split_head(raw)
    assert b"content-length: 5" in lines
    assert body == b"abc", "never more than the declared length, and nothing after"


def test_http10_gets_a_close_delimited_stream(serve) -> None:
    with serve(_streaming_app("async")) as srv:
        raw = exchange(srv.port, get("/", "Connection: keep-alive", version="1.0"))
    lines, body = split_head(raw)
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"connection: close" in lines
    names = header_names(lines)
    assert b"transfer-encoding" not in names
    assert b"content-length" not in names
    assert body == STREAM_BODY


def test_exception_after_streaming_started_leaves_an_incomplete_body(serve) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"first"
        yield b"second"
        raise RuntimeError("the stream broke")

    async def app(request: Request) -> Response:
        return StreamingResponse(broken())

    with serve(app) as srv:
        raw = exchange(srv.port, get("/") + get("/never"))
    lines, body = split_head(raw)
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"transfer-encoding: chunked" in lines
    assert body == b"5\r\nfirst\r\n6\r\nsecond\r\n", "no terminating chunk, nothing after"


def test_generator_is_closed_when_the_stream_is_not_sent(serve) -> None:
    closed = threading.Event()

    class Body:
        def __aiter__(self) -> Body:
            return self

        async def __anext__(self) -> bytes:
            raise AssertionError("the body of a HEAD response was iterated")

        async def aclose(self) -> None:
            closed.set()

    async def app(request: Request) -> Response:
        return StreamingResponse(Body())

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(get("/", method="HEAD"))
        status, headers, body = Reader(sock).response(head_only=True)
        assert status == 200
        assert closed.wait(TIMEOUT), "the body iterator of a HEAD response was never closed"


# Expect: 100-continue -----------------------------------------------------------------------


async def continue_app(request: Request) -> Response:
    if request.path == "/read":
        return Response(b"got " + await request.body())
    return Response(b"not reading", status=413 if request.path == "/refuse" else 200)


def test_100_continue_sent_when_the_app_reads(serve) -> None:
    with serve(continue_app) as srv, srv.connect() as sock:
        head = get("/read", "Expect: 100-continue", "Content-Length: 5", method="PUT")
        sock.sendall(head)
        assert read_exactly(sock, len(b"HTTP/1.1 100 Continue\r\n\r\n")) == (
            b"HTTP/1.1 100 Continue\r\n\r\n"
        )
        sock.sendall(b"hello")
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert (status, body) == (200, b"got hello")
        assert "connection" not in headers
        # the connection goes on, and a request without Expect gets no 100
        sock.sendall(post("/read", b"again"))
        status, _, body = reader.response()
        assert (status, body) == (200, b"got again")
        assert reader.buf == b""


@pytest.mark.parametrize(("path", "status"), [("/ignore", 200), ("/refuse", 413)])
def test_no_100_continue_when_the_app_answers_without_reading(serve, path, status) -> None:
    with serve(continue_app) as srv, srv.connect() as sock:
        sock.sendall(get(path, "Expect: 100-continue", "Content-Length: 5", method="PUT"))
        raw = recv_all(sock, TIMEOUT)
    lines, body = split_head(raw)
    assert lines[0].startswith(b"HTTP/1.1 %d " % status), lines[0]
    assert b"connection: close" in lines
    assert body == b"not reading"
    assert b"100 Continue" not in raw


def test_100_continue_on_http10_is_ignored(serve) -> None:
    """RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST be ignored."""
    reading = threading.Event()

    async def app(request: Request) -> Response:
        reading.set()  # the body is sent only after this: read() finds nothing buffered
        return Response(b"got " + await request.body())

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(get("/", "Expect: 100-continue", "Content-Length: 2", version="1.0"))
        assert reading.wait(TIMEOUT)
        sock.sendall(b"hi")
        raw = recv_all(sock, TIMEOUT)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw
    assert b"100 Continue" not in raw
    assert raw.endswith(b"\r\n\r\ngot hi")


# HEAD and bodiless statuses -----------------------------------------------------------------


async def head_app(request: Request) -> Response:
    if request.path == "/stream":
        return StreamingResponse([b"abc"], headers={"x-kind": "stream"})
    return JSONResponse({"hello": "world", "n": [1, 2, 3]}, headers={"x-kind": "bytes"})


def test_head_has_get_headers_and_no_body(serve) -> None:
    with serve(head_app) as srv, srv.connect() as sock:
        sock.sendall(get("/") + get("/", method="HEAD") + get("/after"))
        reader = Reader(sock)
        _, get_headers, get_body = reader.response()
        _, head_headers, head_body = reader.response(head_only=True)
        _, after_headers, after_body = reader.response()
    assert head_body == b""
    get_headers.pop("date")
    head_headers.pop("date")
    assert head_headers == get_headers
    assert head_headers["content-length"] == str(len(get_body))
    assert after_body == get_body, "a HEAD body leaked into the next response"
    assert reader.buf == b""


def test_head_of_a_streaming_response(serve) -> None:
    with serve(head_app) as srv, srv.connect() as sock:
        sock.sendall(get("/stream", method="HEAD") + get("/after"))
        reader = Reader(sock)
        status, headers, _ = reader.response(head_only=True)
        assert status == 200
        assert headers["x-kind"] == "stream"
        assert "transfer-encoding" not in headers
        # what follows the HEAD head must be the next response
        assert reader.response()[1]["x-kind"] == "bytes"
        assert reader.buf == b""


@pytest.mark.parametrize("status", [204, 304])
@pytest.mark.parametrize("streaming", [False, True], ids=["bytes", "stream"])
def test_bodiless_status(serve, status: int, streaming: bool) -> None:
    async def app(request: Request) -> Response:
        if request.path == "/next":
            return Response(b"next")
        if streaming:
            return StreamingResponse([b"must", b"not", b"appear"], status=status)
        return Response(b"must not appear", status=status, headers={"etag": '"v1"'})

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(get("/") + get("/next"))
        reader = Reader(sock)
        while reader.buf.count(b"\r\n\r\n") < 2 or not reader.buf.endswith(b"next"):
            reader._more()
        raw = reader.buf
    lines, rest = split_head(raw)
    assert lines[0].startswith(b"HTTP/1.1 %d " % status)
    names = header_names(lines)
    assert b"content-length" not in names
    assert b"transfer-encoding" not in names
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n"), "a body followed the bodiless response"
    assert b"appear" not in raw
    assert rest.endswith(b"\r\n\r\nnext")


# failures in the app ------------------------------------------------------------------------


def _bad_header(request: Request) -> Response:
    return Response(b"x", headers={"x-evil": "a\r\nSet-Cookie: pwned=1"})


def _bad_header_set(request: Request) -> Response:
    response = Response(b"x")
    response.headers["x-evil"] = "a\nSet-Cookie: pwned=1"
    return response


def _bad_redirect(request: Request) -> Response:
    return RedirectResponse("/x\r\nSet-Cookie: pwned=1")


def _bad_media_type(request: Request) -> Response:
    return Response(b"x", media_type="text/plain\r\nSet-Cookie: pwned=1")


def _bad_status(request: Request) -> Response:
    return Response(b"x", status=1000)


def _non_str_header(request: Request) -> Response:
    return Response(b"x", headers={"x-number": 5})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "make",
    [_bad_header, _bad_header_set, _bad_redirect, _bad_media_type, _bad_status, _non_str_header],
)
def test_unsendable_response_is_a_500(serve, make: Any) -> None:
    async def app(request: Request) -> Response:
        if request.path == "/ok":
            return Response(b"fine")
        return make(request)

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(get("/bad") + get("/ok"))
        reader = Reader(sock)
        while not reader.buf.endswith(b"fine"):
            reader._more()
        raw = reader.buf
        lines, _ = split_head(raw)
        assert lines[0] == b"HTTP/1.1 500 Internal Server Error"
        assert b"pwned" not in raw.lower()
        assert b"x-evil" not in raw.lower()
        assert b"set-cookie" not in header_names(lines)
        reader.response()
        assert reader.response()[2] == b"fine"


@pytest.mark.parametrize("awaits", [False, True], ids=["inline-app", "awaiting-app"])
@pytest.mark.parametrize("status", ["200", "200 OK\r\nSet-Cookie: pwned=1", None, 20.5, 1000, 99])
def test_response_with_a_bad_status_attribute_is_a_500(serve, status: Any, awaits: bool) -> None:
    async def app(request: Request) -> Response:
        if request.path == "/ok":
            return Response(b"fine")
        if awaits:
            await asyncio.sleep(0)
        response = Response(b"x")
        response.status = status
        return response

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(get("/bad") + get("/ok"))
        reader = Reader(sock)
        status_code, _, body = reader.response()
        assert (status_code, body) == (500, b"Internal Server Error\n")
        assert reader.response()[2] == b"fine"
        assert b"pwned" not in reader.buf


async def _crash_inline(request: Request) -> Response:
    raise RuntimeError("boom")


async def _crash_after_await(request: Request) -> Response:
    await asyncio.sleep(0)
    raise ValueError("boom")


async def _crash_reading(request: Request) -> Response:
    await request.body()
    raise KeyError("boom")


@pytest.mark.parametrize("crash", [_crash_inline, _crash_after_await, _crash_reading])
def test_crashing_handler_gives_500_and_the_connection_goes_on(serve, crash: Any) -> None:
    async def app(request: Request) -> Response:
        if request.path == "/ok":
            return Response(b"fine")
        return await crash(request)

    with serve(app) as srv, srv.connect() as sock:
        reader = Reader(sock)
        sock.sendall(post("/crash", b"data"))
        status, headers, body = reader.response()
        assert status == 500
        assert body == b"Internal Server Error\n"
        assert b"boom" not in body
        assert "connection" not in headers
        sock.sendall(get("/ok"))
        assert reader.response()[2] == b"fine"
        sock.sendall(post("/crash", b"x") + get("/ok"))
        assert reader.response()[0] == 500
        assert reader.response()[2] == b"fine"


@pytest.mark.parametrize("value", [None, {"a": 1}, b"bytes", "str", 200])
def test_non_response_is_a_500(serve, value: Any) -> None:
    async def app(request: Request) -> Any:
        return Response(b"fine") if request.path == "/ok" else value

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(get("/bad") + get("/ok"))
        reader = Reader(sock)
        status, _, body = reader.response()
        assert status == 500
        assert body == b"Internal Server Error\n"
        assert reader.response()[2] == b"fine"


def test_http_error(serve) -> None:
    async def app(request: Request) -> Response:
        if request.path == "/nope":
            raise HTTPError(404, "nope")
        if request.path == "/method":
            raise HTTPError(405, headers={"Allow": "GET, HEAD"})
        await asyncio.sleep(0)
        raise HTTPError(418, "short and stout")

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(get("/nope") + get("/method") + get("/teapot"))
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert (status, body) == (404, b"nope\n")
        assert headers["content-type"] == "text/plain; charset=utf-8"
        status, headers, body = reader.response()
        assert (status, body) == (405, b"Method Not Allowed\n")
        assert headers["allow"] == "GET, HEAD"
        assert reader.response()[::2] == (418, b"short and stout\n")


@pytest.mark.parametrize("body", [b"{not json", b"", b'{"a": 1', b"\xff\xfe"])
def test_invalid_json_is_a_400(serve, body: bytes) -> None:
    async def app(request: Request) -> Response:
        return JSONResponse({"got": await request.json()})

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(post("/", body) + post("/", b'{"a": [1, "x"]}'))
        reader = Reader(sock)
        status, headers, text = reader.response()
        assert status == 400
        assert text.startswith(b"Invalid JSON body: ")
        assert len(text) > len(b"Invalid JSON body: \n")
        assert headers["content-type"] == "text/plain; charset=utf-8"
        status, _, text = reader.response()
        assert status == 200
        assert json.loads(text) == {"got": {"a": [1, "x"]}}


@pytest.mark.parametrize("size", [10, 100_000, 1_000_000])
def test_unread_body_is_discarded(serve, size: int) -> None:
    async def app(request: Request) -> Response:
        return Response(f"{request.method} {request.path}".encode())

    body = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n" * (size // 35 + 1)
    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(post("/upload", body) + get("/next"))
        reader = Reader(sock)
        assert reader.response()[2] == b"POST /upload"
        assert reader.response()[2] == b"GET /next"
        sock.sendall(
            b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nGET /\r\n0\r\n\r\n" + get("/last")
        )
        assert reader.response()[2] == b"POST /c"
        assert reader.response()[2] == b"GET /last"
        assert reader.buf == b""


def test_http10_post_without_host_gets_its_body(serve) -> None:
    """RFC 9112 6.2: Content-Length frames an HTTP/1.0 request body, Host or not."""
    with serve(echo) as srv:
        raw = exchange(srv.port, b"POST /form HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert split_head(raw)[1] == b"POST /form \nhello"


# access log ---------------------------------------------------------------------------------


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    yield from capture("porch.access")


COMBINED = re.compile(
    r"(?P<host>\S+) - - \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<size>\d+) '
    r'"(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)"'
)


def test_access_log_combined_format(serve, access_lines: list[str]) -> None:
    async def app(request: Request) -> Response:
        if request.path == "/missing":
            raise HTTPError(404, "nope")
        return Response(b"hello")

    with serve(app, access_log=True) as srv, srv.connect() as sock:
        sock.sendall(
            get("/page?a=1&b=2", "Referer: http://ref.example/", "User-Agent: curl/8.0")
            + get("/missing", version="1.0")
        )
        reader = Reader(sock)
        reader.response()
        reader.response()
    assert len(access_lines) == 2, access_lines
    first = COMBINED.fullmatch(access_lines[0])
    assert first, access_lines[0]
    assert first["host"] == "127.0.0.1"
    assert first["request"] == "GET /page?a=1&b=2 HTTP/1.1"
    assert (first["status"], first["size"]) == ("200", "5")
    assert first["referer"] == "http://ref.example/"
    assert first["agent"] == "curl/8.0"
    second = COMBINED.fullmatch(access_lines[1])
    assert second, access_lines[1]
    assert second["request"] == "GET /missing HTTP/1.0"
    assert (second["status"], second["size"]) == ("404", "5")
    assert (second["referer"], second["agent"]) == ("-", "-")


def test_access_log_escapes_request_data(serve, access_lines: list[str]) -> None:
    async def app(request: Request) -> Response:
        return Response(b"ok")

    agent = b'evil" 200 0 "-" "forged\t\\end'
    with serve(app, access_log=True) as srv, srv.connect() as sock:
        sock.sendall(
            b'GET /a"b\\c?q="x" HTTP/1.1\r\nHost: t\r\nUser-Agent: ' + agent + b"\r\n"
            b'Referer: "\\"\r\n\r\n'
        )
        Reader(sock).response()
        # a control character in a field never reaches the app, nor the log
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: a\x1b[2Jb\r\n\r\n")
        raw = recv_all(sock, TIMEOUT)
        assert raw.startswith(b"HTTP/1.1 400 ")
    assert len(access_lines) == 1, access_lines
    line = access_lines[0]
    match = COMBINED.fullmatch(line)
    assert match, line
    assert match["request"] == r"GET /a\"b\\c?q=\"x\" HTTP/1.1"
    assert match["agent"] == r"evil\" 200 0 \"-\" \"forged\x09\\end"
    assert match["referer"] == r"\"\\\""
    assert all(c.isprintable() for c in line), line
    assert "\x1b" not in "".join(access_lines)


def test_access_log_tells_non_ascii_bytes_from_backslashes(serve, access_lines) -> None:
    """A byte 0xFF and the four characters \\xff sent by a client must log differently."""

    async def app(request: Request) -> Response:
        return Response(b"ok")

    with serve(app, access_log=True) as srv, srv.connect() as sock:
        reader = Reader(sock)
        for agent in (b"a\xffb", b"a\\xffb"):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: " + agent + b"\r\n\r\n")
            reader.response()
    agents = [COMBINED.fullmatch(line)["agent"] for line in access_lines]  # type: ignore[index]
    assert agents[1] == r"a\\xffb"
    assert agents[0] == r"a\xffb"
    assert agents[0] != agents[1]


@pytest.mark.parametrize(
    ("data", "escaped"),
    [
        (b"plain/path?q=1", "plain/path?q=1"),
        (b'say "hi"', r"say \"hi\""),
        (b"a\x1b[31mred", r"a\x1b[31mred"),
        (b"line\r\nforged", r"line\x0d\x0aforged"),
        (b"back\\slash", r"back\\slash"),
        (b"nul\x00del\x7f", r"nul\x00del\x7f"),
        (b"\xc3\xa9", r"\xc3\xa9"),
        ('str "\x1b" \u00e9', r"str \"\x1b\" \xe9"),  # str is latin-1 text from a header
    ],
)
def test_escape(data: bytes | str, escaped: str) -> None:
    assert escape(data) == escaped


# the request API ----------------------------------------------------------------------------


def test_request_client_is_the_peer(serve) -> None:
    async def app(request: Request) -> Response:
        return JSONResponse({"client": request.client, "scheme": request.scheme})

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(get("/"))
        info = json.loads(Reader(sock).response()[2])
        assert tuple(info["client"]) == sock.getsockname()[:2]
        assert info["client"][0] == "127.0.0.1"
        assert info["scheme"] == "http"


def test_request_url_and_host(serve) -> None:
    async def app(request: Request) -> Response:
        return JSONResponse({"url": request.url, "host": (request.host or b"").decode()})

    with serve(app) as srv, srv.connect() as sock:
        reader = Reader(sock)
        sock.sendall(b"GET /p?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")
        assert json.loads(reader.response()[2]) == {
            "url": "http://example.com:8080/p?q=1",
            "host": "example.com:8080",
        }
        sock.sendall(b"GET http://abs.example/x HTTP/1.1\r\nHost: other\r\n\r\n")
        assert json.loads(reader.response()[2]) == {
            "url": "http://abs.example/x",
            "host": "abs.example",
        }


QUERY_CASES = [
    ("a=1&a=2&b=&c=%20x+y&d=%E2%9C%93", "a", "1", ["1", "2"]),
    ("a=1&a=2", "b", None, []),
    ("b=&a", "b", "", [""]),
    ("a", "a", "", [""]),
    ("c=%20x+y", "c", " x y", [" x y"]),
    ("k=a%26b%3Dc", "k", "a&b=c", ["a&b=c"]),
    ("", "a", None, []),
]


def test_query_args(serve) -> None:
    async def app(request: Request) -> Response:
        key = request.headers["x-key"]
        return JSONResponse(
            {
                "get": request.args.get(key),
                "list": request.args.getlist(key),
                "same": request.query is request.args,
            }
        )

    with serve(app) as srv, srv.connect() as sock:
        reader = Reader(sock)
        for query, key, first, values in QUERY_CASES:
            sock.sendall(get(f"/q?{query}", f"X-Key: {key}"))
            result = json.loads(reader.response()[2])
            assert result == {"get": first, "list": values, "same": True}, query


def test_unicode_query_value(serve) -> None:
    async def app(request: Request) -> Response:
        return PlainTextResponse(request.args.get("d", "-"))

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(get("/?d=%E2%9C%93"))
        assert Reader(sock).response()[2].decode("utf-8") == "\u2713"


@pytest.mark.parametrize(
    ("cookie_headers", "expected"),
    [
        (["Cookie: a=1; b=two"], {"a": "1", "b": "two"}),
        (["Cookie: a=1", "Cookie: b=2; a=3"], {"a": "1", "b": "2"}),
        (['Cookie: q="quoted value"'], {"q": "quoted value"}),
        # RFC 6265 5.4: a Cookie header carries only name=value pairs; "Path" is a name here.
        (["Cookie: session=abc123; Path=/"], {"session": "abc123", "Path": "/"}),
        ([], {}),
    ],
)
def test_cookies(serve, cookie_headers: list[str], expected: dict[str, str]) -> None:
    async def app(request: Request) -> Response:
        return JSONResponse(request.cookies)

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(get("/", *cookie_headers))
        assert json.loads(Reader(sock).response()[2]) == expected


def test_request_headers_and_path(serve) -> None:
    async def app(request: Request) -> Response:
        return JSONResponse(
            {
                "path": request.path,
                "raw_path": request.raw_path.decode(),
                "accept": request.headers.getlist("accept"),
                "X-Mixed": request.headers.get("X-MIXED"),
                "content_type": request.content_type,
                "version": request.http_version,
            }
        )

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(
            get(
                "/caf%C3%A9/a%2Fb",
                "Accept: text/html",
                "Accept: */*",
                "x-mixed: Value",
                "Content-Type: Application/JSON; charset=utf-8",
            )
        )
        result = json.loads(Reader(sock).response()[2])
    assert result == {
        "path": "/caf\xe9/a/b",
        "raw_path": "/caf%C3%A9/a%2Fb",
        "accept": ["text/html", "*/*"],
        "X-Mixed": "Value",
        "content_type": "application/json",
        "version": "1.1",
    }


def test_protocol_error_gets_a_reply_and_a_close(serve) -> None:
    async def app(request: Request) -> Response:
        return Response(b"fine")

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(get("/ok") + b"GET / HTTP/1.1\r\n\r\n")
        reader = Reader(sock)
        assert reader.response()[2] == b"fine"
        status, headers, body = reader.response()
        assert status == 400
        assert headers["connection"] == "close"
        assert body == b"Missing Host header (required in HTTP/1.1)\n"
        assert_closed(sock)
