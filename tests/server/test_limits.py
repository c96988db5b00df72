"""Every limit and timeout of the server, exercised over real sockets on 127.0.0.1.

Timeouts are checked by the server's one-second tick, so a timeout of 1 s fires after 1 to 2 s;
the tests allow up to 3 s and never sleep to synchronise: they wait on reads with timeouts, on
the server closing the socket, or on events set by the app.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from typing import Any

import pytest

from porch import Request, Response, StreamingResponse
from tests.conftest import Reader, read_response, recv_all

HOST = b"Host: example.com\r\n"
MiB = 1024 * 1024
CLOSE_WITHIN = 3.0  # a 1 s timeout, checked once a second, plus slack
EARLIEST = 0.5  # no 1 s timeout may fire sooner than this


async def echo(request: Request) -> Response:
    """Answer with the size and digest of the whole body, and the number of header fields."""
    body = await request.body()
    digest = hashlib.sha256(body).hexdigest()
    return Response(f"{len(body)} {digest} {len(request.raw_headers)}", media_type="text/plain")


def expected_echo(body: bytes, fields: int) -> bytes:
    return f"{len(body)} {hashlib.sha256(body).hexdigest()} {fields}".encode()


def get(target: bytes = b"/", headers: bytes = b"") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\n" + HOST + headers + b"\r\n"


def post_length(body: bytes, size: int = 0) -> bytes:
    """`size` is unused: the signature matches `post_chunked`."""
    return b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n\r\n" % len(body) + body


def post_chunked(body: bytes, size: int = 4096, trailers: bytes = b"") -> bytes:
    chunks = b"".join(
        b"%x\r\n%b\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    )
    head = b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
    return head + chunks + b"0\r\n" + trailers + b"\r\n"


def one_exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    """Send `data` on a new connection; return (status, headers, body, closed after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        reader = Reader(sock)
        status, headers, body = reader.response()
        rest = reader.buf + recv_all(sock) if headers.get("connection") == "close" else b""
        assert rest == b"", f"bytes after the response: {rest[:200]!r}"
        return status, headers, body, headers.get("connection") == "close"


def assert_refused(port: int, data: bytes, status: int) -> None:
    got, headers, _, closed = one_exchange(port, data)
    assert (got, closed) == (status, True), headers


def seconds_until_closed(sock: socket.socket) -> tuple[float, bytes]:
    """Wait for the server to close `sock`; return (seconds waited, bytes received)."""
    start = time.perf_counter()
    data = recv_all(sock, timeout=CLOSE_WITHIN + 2)
    return time.perf_counter() - start, data


# (1) limit_request_line --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "status"),
    [
        pytest.param(b"/" + b"a" * 99, 200, id="path-at-limit"),
        pytest.param(b"/" + b"a" * 100, 414, id="path-one-over"),
        pytest.param(b"/?" + b"q" * 98, 200, id="query-at-limit"),
        pytest.param(b"/?" + b"q" * 99, 414, id="query-one-over"),
        pytest.param(b"http://example.com/" + b"a" * 81, 200, id="absolute-at-limit"),
        pytest.param(b"http://example.com/" + b"a" * 82, 414, id="absolute-one-over"),
    ],
)
def test_request_target_limit(serve, target, status):
    with serve(echo, limit_request_line=100) as srv:
        got, _, _, closed = one_exchange(srv.port, get(target))
    assert (got, closed) == (status, status != 200)


def test_request_target_that_never_ends_is_refused_early(serve):
    """An endless target is refused once it passes the limit, not when its line ends."""
    with serve(echo, limit_request_line=100) as srv, srv.connect() as sock:
        sock.sendall(b"GET /" + b"a" * 1000)
        status, headers, _ = read_response(sock)
        assert (status, headers["connection"]) == (414, "close")
        assert recv_all(sock) == b""


# (2) limit_header_count and limit_header_size ----------------------------------------------


def pad_fields(count: int) -> bytes:
    return b"".join(b"X-%d: v\r\n" % i for i in range(count))


@pytest.mark.parametrize(
    ("headers", "trailers", "status"),
    [
        pytest.param(pad_fields(9), b"", 200, id="fields-at-limit"),
        pytest.param(pad_fields(10), b"", 431, id="fields-one-over"),
        pytest.param(pad_fields(7), b"T: v\r\n", 200, id="fields-and-trailer-at-limit"),
        pytest.param(pad_fields(7), b"T: v\r\nU: v\r\n", 431, id="fields-and-trailers-over"),
    ],
)
def test_header_count_limit(serve, headers, trailers, status):
    """Host plus the padding fields (plus Transfer-Encoding and trailers when chunked)."""
    with serve(echo, limit_header_count=10) as srv:
        if trailers:
            head, _, body = post_chunked(b"abc", trailers=trailers).partition(b"\r\n\r\n")
            data = head + b"\r\n" + headers + b"\r\n" + body
        else:
            data = get(headers=headers)
        got, _, body, closed = one_exchange(srv.port, data)
    assert (got, closed) == (status, status != 200)
    if status == 200:  # the app sees every field of the head (trailers are dropped)
        assert body.endswith(b" %d" % (headers.count(b"\n") + (2 if trailers else 1)))


# Names and values count; "Host" + "example.com" is 15 bytes, "X-Pad" 5.
@pytest.mark.parametrize(
    ("value_size", "status"),
    [
        pytest.param(200 - 15 - 5, 200, id="block-at-limit"),
        pytest.param(200 - 15 - 5 + 1, 431, id="block-one-over"),
        pytest.param(5000, 431, id="block-far-over"),
    ],
)
def test_header_size_limit(serve, value_size, status):
    with serve(echo, limit_header_size=200) as srv:
        got, _, _, closed = one_exchange(
            srv.port, get(headers=b"X-Pad: %b\r\n" % (b"v" * value_size))
        )
    assert (got, closed) == (status, status != 200)


def test_header_size_limit_counts_trailers(serve):
    body = post_chunked(b"abc", trailers=b"T: " + b"v" * 200 + b"\r\n")
    with serve(echo, limit_header_size=200) as srv:
        assert_refused(srv.port, body, 431)


def send_until_answered(sock: socket.socket, start: bytes, more: bytes, pieces: int) -> bytes:
    """Send `start`, then up to `pieces` times `more`, each time waiting briefly for an answer;
    return the first bytes the server sends (b"" if it never answers)."""
    sock.sendall(start)
    for _ in range(pieces):
        sock.sendall(more)
        sock.settimeout(0.25)
        try:
            answer = sock.recv(65536)
        except TimeoutError:
            continue
        sock.settimeout(5)
        return answer + recv_all(sock)
    return b""


def test_trailer_line_that_never_ends_is_refused(serve):
    """limit_header_size counts trailers, including one whose line is still arriving: the
    server must not buffer it without bound while the app waits for the end of the body."""
    head = b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
    start = head + b"3\r\nabc\r\n0\r\nX-Trailer: "
    with serve(echo, limit_header_size=200, timeout_graceful=1) as srv, srv.connect() as sock:
        raw = send_until_answered(sock, start, b"v" * 1024, pieces=20)
    assert raw, "no answer after 20 kB of one trailer line"
    assert raw.startswith(b"HTTP/1.1 431 "), raw[:200]
    assert b"\r\nconnection: close\r\n" in raw


# (3) limit_body_size -----------------------------------------------------------------------

BODY = random.Random(7).randbytes(1001)
FRAMINGS = [
    pytest.param(post_length, id="content-length"),
    pytest.param(post_chunked, id="chunked"),
]


@pytest.mark.parametrize("frame", FRAMINGS)
def test_body_at_limit_is_read_whole(serve, frame):
    with serve(echo, limit_body_size=1000) as srv:
        status, _, body, closed = one_exchange(srv.port, frame(BODY[:1000]))
    assert (status, body, closed) == (200, expected_echo(BODY[:1000], 2), False)


@pytest.mark.parametrize("frame", FRAMINGS)
def test_body_one_over_limit_is_refused(serve, frame):
    with serve(echo, limit_body_size=1000) as srv:
        assert_refused(srv.port, frame(BODY), 413)


def test_declared_length_over_limit_is_refused_before_the_body(serve):
    calls = []

    async def app(request: Request) -> Response:
        calls.append(request)
        return Response(b"called")

    with serve(app, limit_body_size=1000) as srv, srv.connect() as sock:
        sock.sendall(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 1001\r\n\r\n")
        status, headers, _ = read_response(sock)
        assert (status, headers["connection"]) == (413, "close")
        assert recv_all(sock) == b""
    assert calls == []


@pytest.mark.parametrize("frame", FRAMINGS)
def test_large_body_under_limit_arrives_whole(serve, frame):
    body = random.Random(8).randbytes(3 * MiB)
    with serve(echo, limit_body_size=3 * MiB) as srv:
        status, _, answer, _ = one_exchange(srv.port, frame(body, 64 * 1024))
    assert (status, answer) == (200, expected_echo(body, 2))


# (4) timeout_head --------------------------------------------------------------------------


def test_partial_head_gets_408_after_timeout_head(serve):
    with serve(echo, timeout_head=1) as srv, srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n" + HOST + b"X-Slow: ")
        elapsed, raw = seconds_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 408 "), raw[:200]
    assert b"\r\nconnection: close\r\n" in raw
    assert EARLIEST < elapsed < CLOSE_WITHIN


def test_silent_connection_is_closed_after_timeout_head(serve):
    with serve(echo, timeout_head=1) as srv, srv.connect() as sock:
        elapsed, raw = seconds_until_closed(sock)
    assert raw == b"" or raw.startswith(b"HTTP/1.1 408 "), raw[:200]
    assert EARLIEST < elapsed < CLOSE_WITHIN


def test_head_timeout_does_not_cut_a_prompt_request(serve):
    """The same short timeout leaves a client that sends its head at once alone."""
    with serve(echo, timeout_head=1, timeout_keep_alive=5) as srv, srv.connect() as sock:
        reader = Reader(sock)
        for _ in range(3):
            sock.sendall(get())
            assert reader.response()[0] == 200


# (5) timeout_keep_alive --------------------------------------------------------------------


def test_idle_keep_alive_connection_is_closed(serve):
    with serve(echo, timeout_keep_alive=1, timeout_head=10) as srv, srv.connect() as sock:
        reader = Reader(sock)
        sock.sendall(get())
        status, headers, _ = reader.response()
        assert (status, "connection" in headers) == (200, False)
        sock.sendall(get())  # still open right after a response
        assert reader.response()[0] == 200
        elapsed, raw = seconds_until_closed(sock)
    assert raw == b""
    assert EARLIEST < elapsed < CLOSE_WITHIN


# (6) timeout_body --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param(b"Content-Length: 10\r\n\r\nabc", id="content-length"),
        pytest.param(b"Transfer-Encoding: chunked\r\n\r\na\r\nabc", id="chunked"),
    ],
)
def test_stalled_body_gets_408_while_the_app_waits(serve, partial):
    outcome: list[str] = []

    async def app(request: Request) -> Response:
        try:
            await request.body()
        except Exception as exc:
            outcome.append(repr(exc))
            raise
        outcome.append("body complete")
        return Response(b"unexpected")

    with serve(app, timeout_body=1, timeout_head=10) as srv, srv.connect() as sock:
        sock.sendall(b"POST / HTTP/1.1\r\n" + HOST + partial)
        elapsed, raw = seconds_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 408 "), raw[:200]
    assert b"\r\nconnection: close\r\n" in raw
    assert EARLIEST < elapsed < CLOSE_WITHIN
    assert len(outcome) == 1 and "408" in outcome[0]


# (7) limit_connections ---------------------------------------------------------------------


def request_status(port: int) -> int | None:
    """One request on a new connection: its status, or None if the connection was reset."""
    try:
        return one_exchange(port, get())[0]
    except (ConnectionResetError, BrokenPipeError):
        return None


def test_connection_limit(serve):
    with serve(echo, limit_connections=5) as srv, ExitStack() as stack:
        held = []
        for _ in range(5):
            sock = stack.enter_context(srv.connect())
            sock.sendall(get())
            assert Reader(sock).response()[0] == 200
            held.append(sock)

        with srv.connect() as sixth:  # sends nothing: the server speaks first
            status, headers, _ = read_response(sixth)
            assert (status, headers["connection"]) == (503, "close")
            assert recv_all(sixth) == b""

        held.pop().close()
        statuses = []
        while len(statuses) < 50 and statuses[-1:] != [200]:
            statuses.append(request_status(srv.port))
        assert statuses[-1] == 200, statuses
        assert set(statuses[:-1]) <= {503, None}

        for sock in held:  # the four others were never disturbed
            sock.sendall(get())
            assert Reader(sock).response()[0] == 200


# (8) back-pressure on request bodies -------------------------------------------------------


def push_until_stalled(sock: socket.socket, data: memoryview, stall: float = 0.5) -> int:
    """Send from `data` until the peer accepts nothing for `stall` seconds; return bytes sent."""
    sock.settimeout(stall)
    sent = 0
    while sent < len(data):
        try:
            sent += sock.send(data[sent : sent + 256 * 1024])
        except TimeoutError:
            break
    return sent


def test_unread_upload_stalls_the_client(serve):
    size = 20 * MiB
    payload = random.Random(9).randbytes(size)
    started, go = threading.Event(), threading.Event()

    async def app(request: Request) -> Response:
        started.set()
        await asyncio.to_thread(go.wait, 10)
        digest, received = hashlib.sha256(), 0
        async for piece in request.stream():
            digest.update(piece)
            received += len(piece)
        return Response(f"{received} {digest.hexdigest()}")

    with serve(app, limit_body_size=size) as srv, srv.connect() as sock:
        try:
            sock.sendall(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n\r\n" % size)
            assert started.wait(5)
            sent = push_until_stalled(sock, memoryview(payload))
            assert sent < 16 * MiB, f"the server took {sent} bytes the app never asked for"
        finally:
            go.set()
        sock.settimeout(10)
        sock.sendall(memoryview(payload)[sent:])
        status, _, body = read_response(sock, timeout=10)
    assert (status, body) == (200, f"{size} {hashlib.sha256(payload).hexdigest()}".encode())


def test_pipeline_limit_stops_reading_requests(serve):
    """While the first request is in the app, at most `limit_pipeline` requests are queued
    and then the server stops reading: the client cannot push megabytes of requests."""
    count = 3000  # 24 MB of pipelined requests, 8 kB of header each
    pad = b"X-Pad: " + b"p" * 8000 + b"\r\n"
    requests = b"".join(get(b"/%d" % i, pad) for i in range(count))
    started, go = threading.Event(), threading.Event()

    async def app(request: Request) -> Response:
        if request.path == "/0":
            started.set()
            await asyncio.to_thread(go.wait, 10)
        return Response(request.path.encode())

    with serve(app, limit_pipeline=4) as srv, srv.connect() as sock:
        try:
            sent = push_until_stalled(sock, memoryview(requests))
            assert started.wait(5)
            assert sent < 16 * MiB, f"the server took {sent} bytes of requests it cannot answer"
        finally:
            go.set()
        sock.settimeout(10)
        sender = threading.Thread(target=sock.sendall, args=(memoryview(requests)[sent:],))
        sender.start()
        reader = Reader(sock, timeout=10)
        paths = [reader.response()[2] for _ in range(count)]
        sender.join(10)
    assert paths == [b"/%d" % i for i in range(count)]


# (9) back-pressure on responses ------------------------------------------------------------

PIECE = 64 * 1024


def numbered_piece(index: int) -> bytes:
    return index.to_bytes(4, "big") * (PIECE // 4)


def wait_until_quiet(progress: threading.Event, quiet: float = 0.5, limit: float = 10.0) -> bool:
    """Wait until `progress` stays unset for `quiet` seconds; False if that never happens."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        progress.clear()
        if not progress.wait(quiet):
            return True
    return False


def read_into(sock: socket.socket, size: int, digest: Any) -> int:
    """Read exactly `size` bytes into `digest`; return how many were read."""
    buffer = bytearray(1024 * 1024)
    got = 0
    while got < size:
        n = sock.recv_into(buffer, min(len(buffer), size - got))
        assert n, f"connection closed after {got} of {size} bytes"
        digest.update(memoryview(buffer)[:n])
        got += n
    return got


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """Read a response head; return it and the body bytes that came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"connection closed in the head: {data[:300]!r}"
        data += more
    head, _, early = data.partition(b"\r\n\r\n")
    return head, early


def small_receive_buffer_socket(port: int) -> socket.socket:
    """A client socket whose kernel buffer cannot hide megabytes of response."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    return sock


def test_unread_response_pauses_the_app_stream(serve):
    count = 50 * MiB // PIECE
    total = count * PIECE
    produced: list[int] = []
    progress, finished = threading.Event(), threading.Event()

    async def pieces() -> AsyncIterator[bytes]:
        try:
            for index in range(count):
                produced.append(index)
                progress.set()
                yield numbered_piece(index)
        finally:
            finished.set()

    async def app(request: Request) -> Response:
        return StreamingResponse(pieces(), headers={"content-length": str(total)})

    with serve(app) as srv, small_receive_buffer_socket(srv.port) as sock:
        sock.sendall(get())
        assert progress.wait(5), "the app's stream never started"
        assert wait_until_quiet(progress), "the stream never paused"
        paused_at = len(produced) * PIECE
        assert paused_at < 16 * MiB, f"{paused_at} bytes produced for a client reading nothing"
        assert not finished.is_set()

        sock.settimeout(10)
        head, early = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"\r\ncontent-length: %d\r\n" % total in head + b"\r\n"
        digest = hashlib.sha256(early)
        got = len(early) + read_into(sock, total - len(early), digest)
        assert finished.wait(5)
    expected = hashlib.sha256(b"".join(numbered_piece(i) for i in range(count)))
    assert (got, digest.hexdigest()) == (total, expected.hexdigest())


# (10) slow clients do not starve the others ------------------------------------------------

SLOW_CLIENTS = 200
TRICKLE_ROUNDS = 3
NORMAL_PER_ROUND = 5
SLOW_REQUEST = b"GET /slow HTTP/1.1\r\n" + HOST + b"\r\n"


def timed_request(port: int) -> float:
    start = time.perf_counter()
    status = one_exchange(port, get())[0]
    elapsed = time.perf_counter() - start
    assert status == 200
    return elapsed


async def trickle(port: int, measure: Callable[[int], float]) -> list[float]:
    """Open the slow clients and send each one byte a second; time a few normal requests in
    each second; then finish every slow request and check that each one is answered."""
    loop = asyncio.get_running_loop()
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(SLOW_CLIENTS)]
    # Nothing may arrive on a slow connection before its request is complete.
    first_bytes = [asyncio.ensure_future(reader.readexactly(9)) for reader, _ in streams]
    latencies = []
    try:
        for position in range(TRICKLE_ROUNDS):
            round_end = loop.time() + 1.0
            for _, writer in streams:
                writer.write(SLOW_REQUEST[position : position + 1])
            await asyncio.gather(*(writer.drain() for _, writer in streams))
            for _ in range(NORMAL_PER_ROUND):
                latencies.append(await asyncio.to_thread(measure, port))
            # The rest of the second passes watching the slow connections.
            done, _ = await asyncio.wait(first_bytes, timeout=round_end - loop.time())
            assert not done, "a slow connection was answered or closed mid-request"
        for _, writer in streams:
            writer.write(SLOW_REQUEST[TRICKLE_ROUNDS:])
        firsts = await asyncio.wait_for(asyncio.gather(*first_bytes), 10)
        assert set(firsts) == {b"HTTP/1.1 "}
        statuses = await asyncio.gather(*(reader.readexactly(3) for reader, _ in streams))
        assert set(statuses) == {b"200"}
    finally:
        for task in first_bytes:
            task.cancel()
        for _, writer in streams:
            writer.close()
        await asyncio.gather(*first_bytes, return_exceptions=True)
        await asyncio.gather(*(writer.wait_closed() for _, writer in streams))
    return latencies


def test_trickling_clients_do_not_starve_a_normal_request(serve):
    with serve(echo, timeout_head=10) as srv:
        latencies = asyncio.run(trickle(srv.port, timed_request))
    assert len(latencies) == TRICKLE_ROUNDS * NORMAL_PER_ROUND
    assert max(latencies) < 0.1, sorted(latencies)[-5:]


# (11) timeout_write ------------------------------------------------------------------------


def test_client_that_stops_reading_is_cut_after_timeout_write(serve):
    closed = threading.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"x" * PIECE
        finally:
            closed.set()

    async def app(request: Request) -> Response:
        return StreamingResponse(endless())

    with serve(app, timeout_write=1) as srv, small_receive_buffer_socket(srv.port) as sock:
        sock.sendall(get())
        start = time.perf_counter()
        assert closed.wait(CLOSE_WITHIN + 2), "the stream was never stopped"
        elapsed = time.perf_counter() - start
        recv_all(sock, timeout=5)  # what was buffered, then EOF or a reset
    assert EARLIEST < elapsed < CLOSE_WITHIN + 1
