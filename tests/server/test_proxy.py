"""--proxy-headers on a real server: trusted only from --forwarded-allow-ips peers."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import httpx
import pytest

from porch import JSONResponse, Request, Response
from porch.config import Config
from porch.errors import ConfigError
from porch.server import Server
from tests.conftest import Reader


async def describe(request: Request) -> Response:
    conn = request.conn
    assert conn is not None
    return JSONResponse(
        {
            "client": list(request.client) if request.client else None,
            "scheme": request.scheme,
            "url": request.url,
            "host": request.host.decode() if request.host else None,
            "server": list(conn.server) if conn.server else None,
        }
    )


FORWARDED = {
    "x-forwarded-for": "6.6.6.6, 203.0.113.7",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "shop.example",
}


def test_trusted_proxy_sets_client_scheme_and_url(serve):
    with serve(describe, proxy_headers=True) as srv, httpx.Client(base_url=srv.url) as client:
        seen = client.get("/cart?id=3", headers=FORWARDED).json()
    assert seen["client"] == ["203.0.113.7", 0]
    assert seen["scheme"] == "https"
    assert seen["host"] == "shop.example"
    assert seen["url"] == "https://shop.example/cart?id=3"


def test_rfc7239_forwarded_from_a_trusted_proxy(serve):
    value = 'for="[2001:db8::7]:4711";proto=https;host="shop.example:8443"'
    with serve(describe, proxy_headers=True) as srv, httpx.Client(base_url=srv.url) as client:
        seen = client.get("/", headers={"forwarded": value}).json()
    assert seen["client"] == ["2001:db8::7", 4711]
    assert seen["url"] == "https://shop.example:8443/"


def test_x_forwarded_port_joins_the_host(serve):
    headers = {**FORWARDED, "x-forwarded-port": "8443"}
    with serve(describe, proxy_headers=True) as srv, httpx.Client(base_url=srv.url) as client:
        seen = client.get("/", headers=headers).json()
        default_port = client.get("/", headers={**FORWARDED, "x-forwarded-port": "443"}).json()
    assert seen["url"] == "https://shop.example:8443/"
    assert seen["server"][1] == 8443
    assert default_port["url"] == "https://shop.example/"


@pytest.mark.parametrize(
    "options",
    [
        {"proxy_headers": True, "forwarded_allow_ips": "192.0.2.1,10.0.0.0/8"},
        {"proxy_headers": False},  # the default
        {},
    ],
)
def test_headers_ignored_unless_proxy_headers_and_a_trusted_peer(serve, options):
    headers = {**FORWARDED, "forwarded": "for=198.51.100.1;proto=https"}
    with serve(describe, **options) as srv, httpx.Client(base_url=srv.url) as client:
        seen = client.get("/x", headers=headers).json()
    assert seen["client"][0] == "127.0.0.1"
    assert seen["client"][1] > 0
    assert seen["scheme"] == "http"
    assert seen["url"] == f"http://127.0.0.1:{srv.port}/x"


def test_every_request_gets_its_own_forwarding(serve):
    """A keep-alive connection from a proxy carries many clients' requests."""
    with serve(describe, proxy_headers=True) as srv, srv.connect() as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: a\r\nForwarded: for=203.0.113.3;proto=https\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        reader = Reader(sock)
        bodies = [httpx.Response(200, content=reader.response()[2]).json() for _ in range(4)]
    assert [b["client"][0] for b in bodies] == [
        "203.0.113.1",
        "127.0.0.1",
        "203.0.113.3",
        "127.0.0.1",
    ]
    assert [b["scheme"] for b in bodies] == ["http", "http", "https", "http"]


@pytest.mark.parametrize(
    "value",
    ['for="broken', "for=1.2.3.4;for=5.6.7.8", "for=1.2.3.4;;", "for=" + "9" * 5000],
)
def test_malformed_forwarded_is_ignored_not_a_500(serve, value):
    with serve(describe, proxy_headers=True) as srv, httpx.Client(base_url=srv.url) as client:
        r = client.get("/", headers={"forwarded": value})
    assert r.status_code == 200
    assert r.json()["client"][0] == "127.0.0.1"


def test_access_log_shows_the_forwarded_client(serve, caplog):
    caplog.set_level(logging.INFO, logger="porch.access")
    with serve(describe, proxy_headers=True, access_log=True) as srv:
        with httpx.Client(base_url=srv.url) as client:
            client.get("/", headers={"x-forwarded-for": "203.0.113.7"})
    lines = [r.getMessage() for r in caplog.records if r.name == "porch.access"]
    assert len(lines) == 1
    assert lines[0].startswith("203.0.113.7 - - [")


def test_unix_socket_peer_trusted_only_with_star(tmp_path: Path):
    path = str(tmp_path / "porch.sock")
    for allow, expected in (("127.0.0.1", None), ("*", ["203.0.113.7", 0])):
        config = Config(uds=path, proxy_headers=True, forwarded_allow_ips=allow, access_log=False)
        server = Server(describe, config)
        thread = threading.Thread(target=server.run, kwargs={"install_signals": False})
        thread.start()
        try:
            assert server.started.wait(10)
            transport = httpx.HTTPTransport(uds=path)
            with httpx.Client(transport=transport, base_url="http://proxy") as client:
                seen = client.get("/", headers={"x-forwarded-for": "203.0.113.7"}).json()
            assert seen["client"] == expected
        finally:
            server.stop()
            thread.join(10)


@pytest.mark.parametrize("value", ["10.0.0.0/40", "localhost", "1.2.3.4,bogus"])
def test_bad_forwarded_allow_ips_is_a_config_error(value):
    with pytest.raises(ConfigError, match="--forwarded-allow-ips"):
        Config(forwarded_allow_ips=value)
