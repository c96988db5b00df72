"""--proxy-protocol on a real server: raw sockets send valid and hostile PROXY headers."""

from __future__ import annotations

import logging

import httpx
import pytest

from porch import JSONResponse, Request, Response
from tests.conftest import Reader, recv_all
from tests.http.test_proxy_protocol import v2, v2_tcp6

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
GET_CLOSE = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
V1 = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n"


async def describe(request: Request) -> Response:
    conn = request.conn
    assert conn is not None
    return JSONResponse(
        {
            "client": list(request.client) if request.client else None,
            "server": list(conn.server) if conn.server else None,
            "scheme": request.scheme,
        }
    )


def answers(sock, count: int = 1) -> list[dict]:
    reader = Reader(sock)
    return [httpx.Response(200, content=reader.response()[2]).json() for _ in range(count)]


@pytest.mark.parametrize(
    ("header", "client", "server"),
    [
        (V1, ["203.0.113.7", 51234], ["10.0.0.1", 443]),
        (v2(), ["203.0.113.7", 51234], ["10.0.0.1", 443]),
        (v2_tcp6(), ["2001:db8::7", 4711], ["2001:db8::1", 8443]),
        (v2(tlvs=b"\x05\x00\x04abcd"), ["203.0.113.7", 51234], ["10.0.0.1", 443]),
    ],
)
def test_header_gives_every_request_the_real_client(serve, header, client, server):
    with serve(describe, proxy_protocol=True) as srv, srv.connect() as sock:
        sock.sendall(header + GET + GET)
        first, second = answers(sock, 2)
    assert first["client"] == second["client"] == client
    assert first["server"] == server


@pytest.mark.parametrize("header", [V1, v2()])
@pytest.mark.parametrize("piece", [1, 3, 7])
def test_header_split_across_many_writes(serve, header, piece):
    with serve(describe, proxy_protocol=True) as srv, srv.connect() as sock:
        data = header + GET_CLOSE
        for start in range(0, len(data), piece):
            sock.sendall(data[start : start + piece])
        (seen,) = answers(sock)
    assert seen["client"] == ["203.0.113.7", 51234]


@pytest.mark.parametrize(
    "header",
    [v2(command=0, family=0, addresses=b""), b"PROXY UNKNOWN\r\n", v2(family=0x12)],
)
def test_local_and_unknown_keep_the_connection_addresses(serve, header):
    with serve(describe, proxy_protocol=True) as srv, srv.connect() as sock:
        sock.sendall(header + GET_CLOSE)
        (seen,) = answers(sock)
    assert seen["client"][0] == "127.0.0.1"


@pytest.mark.parametrize(
    "data",
    [
        GET,  # no header at all
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n" + GET,
        b"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n" + GET,
        b"PROXY " + b"9" * 300,
        v2(version=1) + GET,
        v2(addresses=b"\x01") + GET,
        v2(tlvs=bytes(60000)),
        b"\r\n\r\n\x00\r\nQUIX\n" + GET,
    ],
)
def test_missing_or_malformed_header_closes_without_a_reply(serve, caplog, data):
    caplog.set_level(logging.DEBUG, logger="porch.error")
    with serve(describe, proxy_protocol=True) as srv:
        with srv.connect() as sock:
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed while the rest was still being sent
            assert recv_all(sock) == b""
        with srv.connect() as sock:  # and the server is fine
            sock.sendall(V1 + GET_CLOSE)
            assert answers(sock)[0]["client"][0] == "203.0.113.7"
    closed = [r for r in caplog.records if "Closing a connection from" in r.getMessage()]
    assert closed and all(r.levelno == logging.DEBUG for r in closed)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_truncated_header_is_closed_by_the_head_timeout(serve):
    with serve(describe, proxy_protocol=True, timeout_head=1.0) as srv:
        with srv.connect(timeout=10) as sock:
            sock.sendall(V1[:20])
            assert recv_all(sock, timeout=10) == b""
        with srv.connect(timeout=10) as sock:
            sock.sendall(v2()[:14])
            assert recv_all(sock, timeout=10) == b""


def test_client_leaving_mid_header_harms_nothing(serve):
    with serve(describe, proxy_protocol=True) as srv:
        with srv.connect() as sock:
            sock.sendall(V1[:10])
        with srv.connect() as sock:
            sock.sendall(V1 + GET_CLOSE)
            assert answers(sock)[0]["client"][0] == "203.0.113.7"


def test_untrusted_peer_speaks_plain_http_and_cannot_send_a_header(serve):
    with serve(describe, proxy_protocol=True, forwarded_allow_ips="192.0.2.1") as srv:
        with srv.connect() as sock:
            sock.sendall(GET_CLOSE)
            assert answers(sock)[0]["client"][0] == "127.0.0.1"
        with srv.connect() as sock:
            sock.sendall(V1 + GET_CLOSE)
            reply = recv_all(sock)  # "PROXY" is no HTTP method: refused, the app not called
            assert reply.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 501 ")), reply
            assert b"203.0.113.7" not in reply


@pytest.mark.parametrize(
    ("source", "client"),
    [("10.0.0.5", ["198.51.100.9", 0]), ("203.0.113.7", ["203.0.113.7", 4000])],
)
def test_proxy_headers_trusted_by_the_address_the_header_gives(serve, source, client):
    """An L4 balancer relays a client's bytes: their X-Forwarded-For counts only when the
    PROXY header says they come from a trusted proxy."""
    options = {"proxy_headers": True, "forwarded_allow_ips": "127.0.0.1,10.0.0.0/8"}
    with serve(describe, proxy_protocol=True, **options) as srv, srv.connect() as sock:
        header = b"PROXY TCP4 %s 10.0.0.1 4000 80\r\n" % source.encode()
        sock.sendall(
            header + b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.9\r\n\r\n"
        )
        (seen,) = answers(sock)
    assert seen["client"] == client
