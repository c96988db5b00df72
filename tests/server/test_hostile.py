"""Malformed, ambiguous and hostile requests against a real server on 127.0.0.1.

Every request of the corpus must be refused with one exact status, the refusal must say
``connection: close`` and the server must then close the connection; the app is never called.
Each case is written in one `sendall`, so the server sees it in one read (loopback), and a
request whose head is fine but whose body is broken is refused before the app starts.
"""

from __future__ import annotations

import random
import ssl
from dataclasses import dataclass

import pytest

from porch import Request, Response
from tests.conftest import exchange, recv_all

# Small limits, so that the limit cases stay small; the rest of the corpus stays below them.
LIMITS = {
    "limit_request_line": 64,
    "limit_header_count": 8,
    "limit_header_size": 256,
    "limit_body_size": 16,
    "timeout_head": 1,
}
HOST = b"Host: example.com\r\n"
TE_CHUNKED = b"Transfer-Encoding: chunked\r\n"


@dataclass
class Parsed:
    status: int
    headers: dict[str, str]
    body: bytes


class Recorder:
    """An app that notes every call and answers 200."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, request: Request) -> Response:
        self.calls.append(f"{request.method} {request.raw_path!r}")
        return Response(b"app was called", media_type="text/plain")


def parse_responses(raw: bytes) -> list[Parsed]:
    """Split what the server sent before closing into responses (content-length framed)."""
    responses = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"incomplete response head: {raw[:300]!r}"
        lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = lines[0].split(" ")
        assert version == "HTTP/1.1", lines[0]
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            assert colon, f"bad response header line {line!r}"
            headers[name.lower()] = value.strip()
        length = int(headers["content-length"])
        assert len(rest) >= length, f"truncated response body: {raw[:300]!r}"
        responses.append(Parsed(int(status), headers, rest[:length]))
        raw = rest[length:]
    return responses


def post(headers: bytes, body: bytes = b"", version: bytes = b"HTTP/1.1") -> bytes:
    return b"POST /upload " + version + b"\r\n" + HOST + headers + b"\r\n" + body


def chunked(body: bytes) -> bytes:
    return post(TE_CHUNKED, body)


def get(headers: bytes = HOST, target: bytes = b"/", line: bytes | None = None) -> bytes:
    if line is None:
        line = b"GET " + target + b" HTTP/1.1"
    return line + b"\r\n" + headers + b"\r\n"


def header(field: bytes) -> bytes:
    """A GET with a valid Host and one more header line, given raw (without its CRLF)."""
    return get(HOST + field + b"\r\n")


def host(value: bytes) -> bytes:
    return get(b"Host: " + value + b"\r\n")


# (id, request bytes, expected status)
CORPUS = [
    # Content-Length and Transfer-Encoding: the request smuggling family (RFC 9112 6.1, 6.3).
    ("cl-then-te", post(b"Content-Length: 5\r\n" + TE_CHUNKED, b"0\r\n\r\n"), 400),
    ("te-then-cl", post(TE_CHUNKED + b"Content-Length: 5\r\n", b"0\r\n\r\n"), 400),
    ("cl-duplicate-same", post(b"Content-Length: 3\r\nContent-Length: 3\r\n", b"abc"), 400),
    ("cl-duplicate-different", post(b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"), 400),
    ("cl-plus-sign", post(b"Content-Length: +3\r\n", b"abc"), 400),
    ("cl-minus-sign", post(b"Content-Length: -3\r\n", b"abc"), 400),
    ("cl-list", post(b"Content-Length: 3, 3\r\n", b"abc"), 400),
    ("cl-inner-space", post(b"Content-Length: 1 2\r\n", b"abc"), 400),
    ("cl-hex", post(b"Content-Length: 0x3\r\n", b"abc"), 400),
    ("cl-empty", post(b"Content-Length: \r\n", b"abc"), 400),
    ("cl-overflow", post(b"Content-Length: 99999999999999999999999999\r\n", b"abc"), 400),
    ("te-gzip", post(b"Transfer-Encoding: gzip\r\n", b"abc"), 501),
    ("te-gzip-chunked", post(b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"), 501),
    ("te-chunked-gzip", post(b"Transfer-Encoding: chunked, gzip\r\n", b"0\r\n\r\n"), 400),
    ("te-xchunked", post(b"Transfer-Encoding: xchunked\r\n", b"0\r\n\r\n"), 501),
    ("te-identity", post(b"Transfer-Encoding: identity\r\n", b"abc"), 501),
    ("te-duplicate-lines", post(TE_CHUNKED + TE_CHUNKED, b"0\r\n\r\n"), 400),
    ("te-in-http10", post(TE_CHUNKED, b"3\r\nabc\r\n0\r\n\r\n", b"HTTP/1.0"), 400),
    # HTTP/1.0 needs no Host: the same checks must hold without one.
    (
        "te-in-http10-without-host",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    (
        "te-gzip-in-http10-without-host",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        400,
    ),
    # Chunked framing (RFC 9112 7.1).
    ("chunk-size-not-hex", chunked(b"zz\r\nabc\r\n0\r\n\r\n"), 400),
    ("chunk-size-negative", chunked(b"-3\r\nabc\r\n0\r\n\r\n"), 400),
    ("chunk-size-overflow", chunked(b"10000000000000000\r\nabc\r\n0\r\n\r\n"), 400),
    ("chunk-size-leading-space", chunked(b" 3\r\nabc\r\n0\r\n\r\n"), 400),
    ("chunk-size-trailing-space", chunked(b"3 \r\nabc\r\n0\r\n\r\n"), 400),
    ("chunk-data-longer-than-size", chunked(b"3\r\nabcdef\r\n0\r\n\r\n"), 400),
    ("chunk-data-without-crlf", chunked(b"3\r\nabc0\r\n\r\n"), 400),
    ("chunk-size-bare-lf", chunked(b"3\nabc\r\n0\r\n\r\n"), 400),
    ("chunk-data-bare-lf", chunked(b"3\r\nabc\n0\r\n\r\n"), 400),
    ("last-chunk-bare-lf", chunked(b"3\r\nabc\r\n0\n\n"), 400),
    ("chunk-size-stray-cr", chunked(b"3\r\r\nabc\r\n0\r\n\r\n"), 400),
    ("chunk-ext-with-lf", chunked(b"3;a\nb\r\nabc\r\n0\r\n\r\n"), 400),
    # Header syntax (RFC 9112 2.2, 5; RFC 9110 5.5).
    ("obs-fold", header(b"X-Folded: a\r\n b"), 400),
    ("bare-cr-in-value", header(b"X-A: a\rb"), 400),
    ("bare-lf-line-endings", b"GET / HTTP/1.1\nHost: example.com\n\n", 400),
    ("bare-lf-after-header", get(HOST + b"X-A: a\n"), 400),
    ("nul-in-value", header(b"X-A: a\x00b"), 400),
    ("ctl-01-in-value", header(b"X-A: a\x01b"), 400),
    ("del-in-value", header(b"X-A: a\x7fb"), 400),
    ("nul-in-name", header(b"X\x00A: a"), 400),
    ("space-before-colon", header(b"X-A : a"), 400),
    ("tab-before-colon", header(b"X-A\t: a"), 400),
    ("line-without-colon", header(b"X-A"), 400),
    ("empty-name", header(b": a"), 400),
    ("non-ascii-name", header(b"X-\xc3\xa9: a"), 400),
    ("space-before-first-header", get(b" X-A: a\r\n" + HOST), 400),
    # Host (RFC 9112 3.2, RFC 9110 7.2).
    ("missing-host", get(b""), 400),
    ("two-hosts-same", get(HOST + HOST), 400),
    ("two-hosts-different", get(HOST + b"Host: example.org\r\n"), 400),
    ("host-with-space", host(b"a b"), 400),
    ("host-with-slash", host(b"a/b"), 400),
    ("host-with-userinfo", host(b"user@host"), 400),
    ("host-unclosed-ipv6", host(b"[::1"), 400),
    ("host-bad-port", host(b"host:port80"), 400),
    # Request target (RFC 9112 3.2).
    ("target-relative", get(target=b"foo"), 400),
    ("target-fragment", get(target=b"/a#b"), 400),
    ("target-asterisk-with-get", get(target=b"*"), 400),
    ("target-authority-form-with-get", get(target=b"example.com:443"), 400),
    ("target-absolute-with-userinfo", get(target=b"http://user@example.com/"), 400),
    ("target-absolute-ftp", get(target=b"ftp://example.com/"), 400),
    ("target-nul", get(target=b"/a\x00b"), 400),
    ("target-space", get(target=b"/a b"), 400),
    ("target-tab", get(target=b"/a\tb"), 400),
    ("target-non-ascii", get(target=b"/caf\xc3\xa9"), 400),
    ("target-del", get(target=b"/a\x7fb"), 400),
    ("connect", get(line=b"CONNECT example.com:443 HTTP/1.1"), 501),
    # Method and version (RFC 9110 9.1, 2.5).
    ("unknown-method", get(line=b"FOO / HTTP/1.1"), 501),
    ("lowercase-method", get(line=b"get / HTTP/1.1"), 501),
    ("http09-request-line", b"GET /\r\n\r\n", 505),
    ("http-2.0", get(line=b"GET / HTTP/2.0"), 505),
    ("http-1.2", get(line=b"GET / HTTP/1.2"), 400),
    ("lowercase-http-name", get(line=b"GET / http/1.1"), 400),
    # Expect and Upgrade.
    ("expect-unknown", header(b"Expect: something-else"), 417),
    (
        "upgrade-with-content-length-body",
        post(b"Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 3\r\n", b"abc"),
        400,
    ),
    (
        "upgrade-with-chunked-body",
        post(b"Connection: Upgrade\r\nUpgrade: websocket\r\n" + TE_CHUNKED, b"0\r\n\r\n"),
        400,
    ),
    # Limits (see LIMITS).
    ("target-over-limit", get(target=b"/" + b"a" * 64), 414),
    ("too-many-headers", get(HOST + b"".join(b"X-%d: v\r\n" % i for i in range(8))), 431),
    ("header-block-too-large", header(b"X-Big: " + b"v" * 256), 431),
    ("header-line-never-ends", b"GET / HTTP/1.1\r\n" + HOST + b"X-Big: " + b"v" * 1000, 431),
    (
        "trailers-over-count",
        chunked(b"1\r\na\r\n0\r\n" + b"".join(b"T-%d: v\r\n" % i for i in range(8)) + b"\r\n"),
        431,
    ),
    ("trailers-over-size", chunked(b"1\r\na\r\n0\r\nT: " + b"v" * 256 + b"\r\n\r\n"), 431),
    ("body-over-limit-content-length", post(b"Content-Length: 17\r\n", b"a" * 17), 413),
    ("body-over-limit-chunked", chunked(b"10\r\n" + b"a" * 16 + b"\r\n1\r\na\r\n0\r\n\r\n"), 413),
    (
        "body-over-limit-http10-without-host",
        b"POST / HTTP/1.0\r\nContent-Length: 17\r\n\r\n" + b"a" * 17,
        413,
    ),
]


@pytest.mark.parametrize(("data", "status"), [pytest.param(d, s, id=i) for i, d, s in CORPUS])
def test_refused_with_exact_status_then_closed(serve, data, status):
    app = Recorder()
    with serve(app, **LIMITS) as srv:
        raw = exchange(srv.port, data)
    responses = parse_responses(raw)
    assert [r.status for r in responses] == [status], raw[:500]
    assert responses[0].headers.get("connection") == "close"
    assert app.calls == []


def test_corpus_is_large_and_unique():
    ids = [case[0] for case in CORPUS]
    assert len(ids) >= 45
    assert len(set(ids)) == len(ids)
    assert len({case[1] for case in CORPUS}) == len(ids)


# Errors after a valid request on the same connection -----------------------------------------

BROKEN_AFTER_VALID = [
    ("bad-header", header(b"X-A : a"), 400),
    ("bad-chunk", chunked(b"zz\r\n"), 400),
    ("unknown-method", get(line=b"FOO / HTTP/1.1"), 501),
    ("target-over-limit", get(target=b"/" + b"a" * 64), 414),
]


@pytest.mark.parametrize(
    ("bad", "status"), [pytest.param(d, s, id=i) for i, d, s in BROKEN_AFTER_VALID]
)
def test_pipelined_valid_request_answered_before_the_error(serve, bad, status):
    app = Recorder()
    with serve(app, **LIMITS) as srv:
        raw = exchange(srv.port, get(target=b"/first") + bad)
    first, error = parse_responses(raw)
    assert (first.status, first.body) == (200, b"app was called")
    assert "connection" not in first.headers
    assert error.status == status
    assert error.headers.get("connection") == "close"
    assert app.calls == ["GET b'/first'"]


# Garbage: anything but HTTP/1.1 ------------------------------------------------------------


def tls_client_hello() -> bytes:
    """The first flight of a real TLS handshake (a ClientHello record)."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="example.com")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:  # it now waits for the ServerHello
        pass
    hello = outgoing.read()
    assert hello[:1] == b"\x16"  # a handshake record
    return hello


GARBAGE = [
    pytest.param(random.Random(seed).randbytes(1024), id=f"random-1k-seed-{seed}")
    for seed in (1, 2, 3)
] + [
    pytest.param(tls_client_hello(), id="tls-client-hello"),
    pytest.param(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", id="http2-preface"),
    pytest.param(b"GET /\r\n", id="http09-bare"),
    pytest.param(b"\r\n\r\n\r\n", id="blank-lines"),
    pytest.param(b"\x00" * 512, id="nul-bytes"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: example.com\r\n" + b"\xff" * 200, id="binary-head"),
    pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n", id="ssh-banner"),
]


@pytest.mark.parametrize("data", GARBAGE)
def test_garbage_gets_an_error_or_a_clean_close(serve, data):
    app = Recorder()
    with serve(app, **LIMITS) as srv:
        raw = exchange(srv.port, data)
    responses = parse_responses(raw)
    assert len(responses) <= 1, raw[:500]
    for response in responses:
        assert 400 <= response.status <= 599
        assert response.headers.get("connection") == "close"
    assert app.calls == []


# HTTP/1.0 and Expect -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", [pytest.param(HOST, id="with-host"), pytest.param(b"", id="no-host")]
)
def test_http10_ignores_expect_100_continue(serve, host):
    """RFC 9110 10.1.1: a server MUST ignore a 100-continue expectation in an HTTP/1.0 request;
    an HTTP/1.0 client cannot understand a 100 response."""

    async def app(request: Request) -> Response:
        return Response(await request.body())

    with serve(app) as srv, srv.connect() as sock:
        sock.sendall(
            b"POST / HTTP/1.0\r\n" + host + b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\n"
        )
        # The app is waiting for the body now; nothing may be sent before it is complete.
        sock.settimeout(0.5)
        try:
            early = sock.recv(1024)
        except TimeoutError:
            early = b""
        assert early == b"", "the server answered before the body was sent"
        sock.sendall(b"abc")
        raw = recv_all(sock)
    assert [(r.status, r.body) for r in parse_responses(raw)] == [(200, b"abc")]
