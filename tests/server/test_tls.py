"""HTTPS: a certificate made for each test run, real TLS clients, hostile handshakes."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from porch import JSONResponse, Request, Response
from porch.config import Config
from porch.errors import ConfigError
from porch.server import Server
from porch.server.tls import create_ssl_context
from porch.static import FileResponse
from tests.conftest import read_response, recv_all
from tests.test_cli import APP, assert_one_line_error, run_porch


class Pki:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, in files."""

    def __init__(self, folder: Path) -> None:
        self.ca = trustme.CA()
        self.folder = folder
        leaf = self.ca.issue_cert("127.0.0.1", "localhost")
        self.cert = self._write("server.pem", leaf.cert_chain_pems[0].bytes())
        self.key = self._write("server.key", leaf.private_key_pem.bytes())
        self.ca_file = self._write("ca.pem", self.ca.cert_pem.bytes())
        client = self.ca.issue_cert("client@example.com")
        self.client_cert = self._write("client.pem", client.cert_chain_pems[0].bytes())
        self.client_key = self._write("client.key", client.private_key_pem.bytes())
        self.other_key = self._write("other.key", trustme.CA().private_key_pem.bytes())
        key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
        encrypted = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
        self.encrypted_key = self._write("encrypted.key", encrypted)

    def _write(self, name: str, data: bytes) -> str:
        path = self.folder / name
        path.write_bytes(data)
        return str(path)

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the test CA."""
        return ssl.create_default_context(cafile=self.ca_file)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls(pki: Pki) -> dict[str, str]:
    return {"ssl_certfile": pki.cert, "ssl_keyfile": pki.key}


async def describe(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "scheme": request.scheme,
            "url": request.url,
            "client": list(request.client or ()),
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
    )


def test_https_request_sees_the_https_scheme(serve, pki, tls):
    with serve(describe, **tls) as srv:
        assert srv.url.startswith("https://")
        assert srv.server.addresses[0].startswith("https://")
        with httpx.Client(verify=pki.client_context()) as client:
            r = client.get(f"https://localhost:{srv.port}/where?x=1")
        assert r.status_code == 200
        assert r.json()["scheme"] == "https"
        assert r.json()["url"] == f"https://localhost:{srv.port}/where?x=1"


def test_alpn_negotiates_http11_only(serve, pki, tls):
    with serve(describe, **tls) as srv:
        context = pki.client_context()
        context.set_alpn_protocols(["h2", "http/1.1"])
        with (
            socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as sock,
        ):
            assert sock.selected_alpn_protocol() == "http/1.1"
            assert sock.version() in ("TLSv1.2", "TLSv1.3")
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            status, _, body = read_response(sock)
        assert status == 200
        assert b'"scheme":"https"' in body


def test_tls_1_1_client_is_refused(serve, pki, tls):
    context = pki.client_context()
    with warnings.catch_warnings():  # an old protocol on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    with serve(describe, **tls) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
            with pytest.raises(ssl.SSLError) as refused:
                context.wrap_socket(raw, server_hostname="localhost")
        # The server said no (a protocol-version alert, or hanging up on the hello); the
        # client itself was willing to speak TLS 1.1.
        error = refused.value
        assert isinstance(error, ssl.SSLEOFError) or "VERSION" in str(error).upper(), error
        with httpx.Client(verify=pki.client_context()) as client:  # and it still serves
            assert client.get(f"https://localhost:{srv.port}/").status_code == 200


def test_tls_1_2_client_is_served(serve, pki, tls):
    context = pki.client_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with serve(describe, **tls) as srv:
        with httpx.Client(verify=context) as client:
            r = client.get(f"https://localhost:{srv.port}/")
        assert r.status_code == 200


def test_keep_alive_large_bodies_over_tls(serve, pki, tls):
    upload = os.urandom(3 * 1024 * 1024 + 17)

    async def app(request: Request) -> Response:
        if request.method == "POST":
            return await describe(request)
        return Response(upload, media_type="application/octet-stream")

    with serve(app, **tls) as srv:
        with httpx.Client(verify=pki.client_context(), timeout=20) as client:
            url = f"https://localhost:{srv.port}/"
            first = client.post(url, content=upload).json()
            second = client.post(url, content=upload).json()
            download = client.get(url)
        assert first["size"] == len(upload)
        assert first["sha256"] == hashlib.sha256(upload).hexdigest()
        assert second["client"] == first["client"]  # the same connection, kept alive
        assert download.content == upload


def test_static_file_over_tls_streams_instead_of_sendfile(serve, pki, tls, tmp_path):
    data = os.urandom(2 * 1024 * 1024 + 3)  # far above the size sent inline with the head
    path = tmp_path / "big.bin"
    path.write_bytes(data)

    async def app(request: Request) -> Response:
        return FileResponse(path)

    with serve(app, **tls) as srv:
        with httpx.Client(verify=pki.client_context(), timeout=20) as client:
            url = f"https://localhost:{srv.port}/"
            whole = client.get(url)
            part = client.get(url, headers={"range": "bytes=1000-1999"})
        assert whole.status_code == 200
        assert whole.content == data
        assert part.status_code == 206
        assert part.content == data[1000:2000]


# client certificates -------------------------------------------------------------------------


def client_with_cert(pki: Pki) -> httpx.Client:
    context = pki.client_context()
    context.load_cert_chain(pki.client_cert, pki.client_key)
    return httpx.Client(verify=context)


def test_client_certificate_required(serve, pki, tls):
    with serve(describe, ssl_ca_certs=pki.ca_file, **tls) as srv:
        url = f"https://localhost:{srv.port}/"
        with client_with_cert(pki) as client:
            assert client.get(url).status_code == 200
        with httpx.Client(verify=pki.client_context()) as client:
            with pytest.raises(httpx.TransportError):
                client.get(url)
        # A certificate from another CA is refused too.
        stranger = trustme.CA().issue_cert("mallory@example.com")
        context = pki.client_context()
        stranger.configure_cert(context)
        with httpx.Client(verify=context) as client:
            with pytest.raises(httpx.TransportError):
                client.get(url)


def test_client_certificate_optional(serve, pki, tls):
    with serve(describe, ssl_ca_certs=pki.ca_file, ssl_cert_reqs="optional", **tls) as srv:
        url = f"https://localhost:{srv.port}/"
        with httpx.Client(verify=pki.client_context()) as client:
            assert client.get(url).status_code == 200
        with client_with_cert(pki) as client:
            assert client.get(url).status_code == 200


# hostile or confused clients -----------------------------------------------------------------


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_plain_http_and_garbage_on_the_tls_port_stay_quiet(serve, pki, tls, caplog, loop):
    caplog.set_level(logging.INFO)
    with serve(describe, loop=loop, **tls) as srv:
        with srv.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"200" not in recv_all(sock)
        with srv.connect() as sock:
            sock.sendall(b"\x16\x03\x01\x00\x05hello" + bytes(range(256)))
            recv_all(sock)
        with srv.connect() as sock:
            sock.sendall(b"\x16\x03\x01")  # a record header, then the client leaves
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
            context = ssl.create_default_context()  # does not trust the test CA
            with pytest.raises(ssl.SSLCertVerificationError):
                context.wrap_socket(raw, server_hostname="localhost")
        with httpx.Client(verify=pki.client_context()) as client:
            assert client.get(f"https://localhost:{srv.port}/").status_code == 200
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == []


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_stalled_handshake_is_closed_by_the_head_timeout(serve, tls, loop):
    with serve(describe, timeout_head=1.0, loop=loop, **tls) as srv:
        with srv.connect(timeout=10) as sock:
            sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, never finished
            assert recv_all(sock, timeout=10) == b""


# configuration errors, at start-up ----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ssl_certfile": "/nonexistent/cert.pem"}, "No such file or directory"),
        ({"ssl_keyfile": "/nonexistent/key.pem"}, "No such file or directory"),
        ({"ssl_keyfile": "OTHER_KEY"}, "the private key does not match the certificate"),
        ({"ssl_keyfile": "ENCRYPTED_KEY"}, "the private key is encrypted: give its password"),
        (
            {"ssl_keyfile": "ENCRYPTED_KEY", "ssl_keyfile_password": "wrong"},
            "wrong password for the private key",
        ),
        ({"ssl_keyfile": "CA_FILE"}, "ca.pem holds no PEM private key"),
        ({"ssl_keyfile": None}, "server.pem holds no PEM private key"),
        ({"ssl_certfile": "KEY_FILE"}, "server.key holds no PEM certificate"),
        ({"ssl_ca_certs": "/nonexistent/ca.pem"}, "cannot load the client CA certificates"),
        ({"ssl_ciphers": "NOT-A-CIPHER"}, "selects no cipher"),
    ],
)
def test_bad_certificate_settings_are_a_config_error(pki, options, message):
    names = {"OTHER_KEY": pki.other_key, "ENCRYPTED_KEY": pki.encrypted_key}
    names.update(CA_FILE=pki.ca_file, KEY_FILE=pki.key)
    settings = {"ssl_certfile": pki.cert, "ssl_keyfile": pki.key}
    settings.update({k: names.get(v, v) if v else v for k, v in options.items()})
    config = Config(port=0, **settings)
    with pytest.raises(ConfigError, match="cannot load|selects no cipher") as error:
        create_ssl_context(config)
    assert message in str(error.value)


def test_encrypted_key_with_its_password(serve, pki):
    options = {
        "ssl_certfile": pki.cert,
        "ssl_keyfile": pki.encrypted_key,
        "ssl_keyfile_password": "s3cret",
    }
    with serve(describe, **options) as srv:
        with httpx.Client(verify=pki.client_context()) as client:
            assert client.get(f"https://localhost:{srv.port}/").status_code == 200


def test_bad_certificate_fails_before_the_app_starts(pki):
    started: list[str] = []

    class App:
        async def startup(self) -> None:
            started.append("startup")

        async def __call__(self, request: Request) -> Response:
            return Response(b"")

    server = Server(App(), Config(port=0, ssl_certfile=pki.cert, ssl_keyfile=pki.other_key))
    with pytest.raises(ConfigError, match="cannot load the TLS certificate"):
        server.run(install_signals=False)
    assert started == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ssl_keyfile": "k.pem"}, "--ssl-keyfile (PORCH_SSL_KEYFILE) needs --ssl-certfile"),
        ({"ssl_ca_certs": "ca.pem"}, "needs --ssl-certfile"),
        ({"ssl_certfile": "c.pem", "proxy_protocol": True}, "cannot be combined with TLS"),
        ({"ssl_cert_reqs": "maybe"}, "must be one of required, optional"),
    ],
)
def test_inconsistent_tls_settings(options, message):
    with pytest.raises(ConfigError) as error:
        Config(**options)
    assert message in str(error.value)


@pytest.fixture
def unix_path(tmp_path: Path) -> Iterator[str]:
    yield str(tmp_path / "porch.sock")


def test_tls_on_a_unix_socket(pki, tls, unix_path):
    server = Server(describe, Config(uds=unix_path, access_log=False, **tls))
    thread = threading.Thread(target=server.run, kwargs={"install_signals": False})
    thread.start()
    try:
        assert server.started.wait(10)
        transport = httpx.HTTPTransport(uds=unix_path, verify=pki.client_context())
        with httpx.Client(transport=transport) as client:
            r = client.get("https://localhost/x")
        assert r.status_code == 200
        assert r.json()["scheme"] == "https"
    finally:
        server.stop()
        thread.join(10)


def test_cli_reports_a_bad_certificate_in_one_line(pki):
    result = run_porch(
        "serve", APP, "--port", "0", "--ssl-certfile", pki.cert, "--ssl-keyfile", pki.other_key
    )
    assert_one_line_error(
        result, "cannot load the TLS certificate", "the private key does not match"
    )
