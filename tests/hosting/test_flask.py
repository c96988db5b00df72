"""A real Flask app (blueprints, Flask-SQLAlchemy on SQLite, sessions, uploads, streaming,
`send_file`) served by ``porch serve tests.hosting.apps.flaskapp:app`` in a subprocess, driven
by httpx as a browser or API client would."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Reader
from tests.hosting.apps.flaskapp import DOWNLOAD_SIZE, download_bytes
from tests.hosting.realapps import DEADLINE, Served, porch_serve, wait_until

pytestmark = pytest.mark.timeout(60)

APP = "tests.hosting.apps.flaskapp:app"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flaskapp")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[Served]:
    with porch_serve(APP, env={"FLASKAPP_DATA": str(data_dir)}) as served:
        yield served


@pytest.fixture
def client(server: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as http:
        yield http


def client_port(response: httpx.Response) -> int:
    """The local port of the connection `response` came on."""
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


# --- the blueprint and the database ---------------------------------------------------------


def test_blueprint_creates_and_lists_users_in_sqlite(client: httpx.Client, data_dir: Path) -> None:
    name = f"ann-{uuid.uuid4().hex[:8]}"
    created = client.post("/users/", json={"name": name, "email": "ann@example.com"})
    assert created.status_code == 201, created.text
    ann = created.json()
    assert ann["name"] == name
    assert created.headers["location"].endswith(f"/users/{ann['id']}")

    form = client.post("/users/", data={"name": name + "-bob", "email": "bob@example.com"})
    assert form.status_code == 201, form.text

    listed = client.get("/users/")
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/json"
    names = [u["name"] for u in listed.json()]
    assert names.index(name) < names.index(name + "-bob")
    assert client.get("/users/", params={"name": name}).json() == [ann]
    assert client.get(f"/users/{ann['id']}").json() == ann

    # the rows are in the SQLite file Flask-SQLAlchemy was configured with
    with sqlite3.connect(data_dir / "users.sqlite3") as db:
        rows = db.execute("SELECT name, email FROM user WHERE name LIKE ?", (name + "%",))
        assert sorted(rows) == [(name, "ann@example.com"), (name + "-bob", "bob@example.com")]


def test_invalid_user_and_missing_user(client: httpx.Client) -> None:
    missing_email = client.post("/users/", json={"name": "nobody"})
    assert missing_email.status_code == 400
    assert missing_email.json() == {"error": "name and email are required"}
    assert client.get("/users/999999").status_code == 404  # db.get_or_404


# --- connections and request data -----------------------------------------------------------


def test_keep_alive_one_connection_for_many_requests(client: httpx.Client) -> None:
    responses = [client.get("/wsgi") for _ in range(5)]
    responses.append(client.post("/users/", json={"name": "x"}))  # a 400 keeps it too
    responses.append(client.get("/no-such-page"))  # and a 404
    ports = {client_port(r) for r in responses}
    assert len(ports) == 1, f"the client opened {len(ports)} connections"
    for response in responses:
        assert response.headers.get("connection", "").lower() != "close", response.headers
    environ = responses[0].json()
    assert environ["remote_addr"] == "127.0.0.1"
    assert int(environ["remote_port"]) == ports.pop()  # the server saw the same connection


def test_wsgi_environ_as_flask_sees_it(client: httpx.Client, server: Served) -> None:
    environ = client.get("/wsgi").json()
    assert environ["version"] == [1, 0]
    assert environ["url_scheme"] == "http"
    assert environ["multithread"] is True
    assert environ["multiprocess"] is False
    assert environ["run_once"] is False
    assert environ["file_wrapper"] is True
    assert environ["protocol"] == "HTTP/1.1"
    assert environ["script_name"] == ""
    assert environ["path_info"] == "/wsgi"
    assert environ["host"] == f"127.0.0.1:{server.port}"


def test_query_args_unicode_and_percent_encoding(client: httpx.Client) -> None:
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("q", "café ☕"),
        ("tag", "a&b"),
        ("tag", "c=d"),
        ("plus", "1+1"),
        ("slash", "/x/"),
        ("empty", ""),
    ]
    response = client.get("/search", params=params)
    assert response.status_code == 200
    assert response.json()["args"] == {
        "q": ["café ☕"],
        "tag": ["a&b", "c=d"],
        "plus": ["1+1"],
        "slash": ["/x/"],
        "empty": [""],
    }
    # a query string written by hand: '+' is a space, %XX is UTF-8, raw bytes reach Flask
    raw = client.get("/search?q=caf%C3%A9+au+lait&n=%E2%82%AC5&n=")
    assert raw.json()["args"] == {"q": ["café au lait"], "n": ["€5", ""]}
    assert raw.json()["query_string"] == "q=caf%C3%A9+au+lait&n=%E2%82%AC5&n="
    assert raw.json()["path"] == "/search"


def test_one_mib_file_upload(client: httpx.Client) -> None:
    content = os.urandom(1024 * 1024)
    response = client.post(
        "/upload",
        files={"document": ("report.bin", content, "application/octet-stream")},
        data={"title": "Quarterly ✓"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "files": {
            "document": {
                "filename": "report.bin",
                "content_type": "application/octet-stream",
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        },
        "form": {"title": "Quarterly ✓"},
    }


def test_one_mib_raw_body_read_from_request_stream(client: httpx.Client) -> None:
    content = os.urandom(1024 * 1024)
    response = client.post("/raw", content=content)
    assert response.json() == {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def test_chunked_upload_reaches_request_stream(client: httpx.Client) -> None:
    """A body without Content-Length (Transfer-Encoding: chunked) is readable by Flask: the
    server marks the input as terminated (``wsgi.input_terminated``), as gunicorn does."""
    pieces = [os.urandom(100_000) for _ in range(5)]
    response = client.post("/raw", content=iter(pieces))
    whole = b"".join(pieces)
    assert response.json() == {"size": len(whole), "sha256": hashlib.sha256(whole).hexdigest()}


# --- responses ------------------------------------------------------------------------------


def test_streaming_response_arrives_piece_by_piece(
    client: httpx.Client, server: Served, data_dir: Path
) -> None:
    token = uuid.uuid4().hex
    with client.stream("GET", "/stream", params={"token": token}) as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        chunks = response.iter_raw()
        # the generator is blocked after its first piece: that piece came on its own
        assert next(chunks) == b"first piece\n"
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as other:
            assert other.post("/stream/release", params={"token": token}).status_code == 204
        rest = b"".join(chunks)
    assert rest == b"".join(f"piece {n}\n".encode() for n in range(2, 6))
    record = data_dir / f"stream-{token}"
    wait_until(record.exists, "the generator's end")
    assert record.read_text() == "complete"


def test_client_leaving_mid_stream_closes_the_generator(server: Served, data_dir: Path) -> None:
    """The server stops iterating a response whose client went away and calls its close():
    the generator sees GeneratorExit instead of producing a megabyte for nobody."""
    token = uuid.uuid4().hex
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        sock.sendall(
            f"GET /stream?token={token}&count=100000 HTTP/1.1\r\nHost: t\r\n\r\n".encode()
        )
        received = b""
        while b"first piece" not in received:
            data = sock.recv(65536)
            assert data, received
            received += data
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as other:
        assert other.post("/stream/release", params={"token": token}).status_code == 204
    record = data_dir / f"stream-{token}"
    wait_until(record.exists, "the generator's end")
    assert record.read_text() == "closed"


def test_send_file_with_conditional_and_range_requests(client: httpx.Client) -> None:
    response = client.get("/download")
    assert response.status_code == 200
    assert response.content == download_bytes()
    assert response.headers["content-type"] == "application/octet-stream"
    assert int(response.headers["content-length"]) == DOWNLOAD_SIZE
    etag = response.headers["etag"]
    assert "last-modified" in response.headers

    partial = client.get("/download", headers={"Range": "bytes=1000-1999"})
    assert partial.status_code == 206
    assert partial.headers["content-range"] == f"bytes 1000-1999/{DOWNLOAD_SIZE}"
    assert partial.content == download_bytes()[1000:2000]

    cached = client.get("/download", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""


def test_redirect(client: httpx.Client) -> None:
    response = client.get("/old-users")
    assert response.status_code == 301
    assert response.headers["location"] == "/users/"
    followed = client.get("/old-users", follow_redirects=True)
    assert followed.status_code == 200
    assert followed.url.path == "/users/"


def test_session_and_cookies(client: httpx.Client) -> None:
    assert client.get("/whoami").json() == {"user": None, "theme": None}
    login = client.post("/login", data={"user": "zoë"})
    assert login.status_code == 302
    set_cookies = login.headers.get_list("set-cookie")
    assert len(set_cookies) == 2, set_cookies  # two fields, never folded into one
    assert any(c.startswith("session=") and "HttpOnly" in c for c in set_cookies)
    assert any(c.startswith("theme=dark") for c in set_cookies)
    assert client.get("/whoami").json() == {"user": "zoë", "theme": "dark"}
    assert client.post("/logout").status_code == 204
    assert client.get("/whoami").json() == {"user": None, "theme": "dark"}


def test_head_has_headers_and_no_body(server: Served) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        reader = Reader(sock, DEADLINE)
        sock.sendall(b"GET /download HTTP/1.1\r\nHost: t\r\n\r\n")
        status, get_headers, body = reader.response()
        assert (status, len(body)) == (200, DOWNLOAD_SIZE)
        # HEAD, then GET on the same connection: had the server sent a body after the HEAD
        # response, the GET would read it as its own status line.
        sock.sendall(
            b"HEAD /download HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        status, head_headers, _ = reader.response(head_only=True)
        assert status == 200
        assert head_headers["content-length"] == str(DOWNLOAD_SIZE)
        assert head_headers["etag"] == get_headers["etag"]
        status, _, body = reader.response()
        assert (status, body) == (200, b"Hello from Flask")


# --- errors ---------------------------------------------------------------------------------


def test_flask_404_and_error_handlers(client: httpx.Client) -> None:
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not found", "path": "/no/such/page"}
    teapot = client.get("/teapot")
    assert teapot.status_code == 418
    assert teapot.json() == {"error": "short and stout"}
    forbidden = client.get("/forbidden")
    assert forbidden.status_code == 403
    assert "<h1>Forbidden</h1>" in forbidden.text
    wrong_method = client.delete("/users/")
    assert wrong_method.status_code == 405
    assert set(wrong_method.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_exception_in_view_is_a_500_and_the_server_keeps_serving(
    client: httpx.Client, server: Served
) -> None:
    broken = client.get("/boom")
    assert broken.status_code == 500
    assert "Internal Server Error" in broken.text  # Flask's own error page
    server.process.wait_for(r"Exception on /boom \[GET\]")  # Flask logged the traceback
    server.process.wait_for(r"RuntimeError: a bug in a Flask view")
    assert client.get("/").text == "Hello from Flask"


def test_exception_out_of_the_wsgi_callable_is_a_logged_500(
    client: httpx.Client, server: Served
) -> None:
    broken = client.get("/crash")
    assert broken.status_code == 500
    assert "a bug in WSGI middleware" not in broken.text  # no internals leak to the client
    server.process.wait_for(r"RuntimeError: a bug in WSGI middleware")  # but the log has them
    for _ in range(3):
        assert client.get("/").text == "Hello from Flask"


# --- behind a proxy -------------------------------------------------------------------------


@pytest.mark.parametrize("prefix_in_path", [False, True], ids=["proxy-strips", "proxy-keeps"])
def test_root_path_is_script_name(data_dir: Path, prefix_in_path: bool) -> None:
    """``--root-path /shop``: Flask builds its URLs under /shop whether the proxy in front
    strips the prefix from the request path or passes it on (as the ASGI host does)."""
    sent = "/shop" if prefix_in_path else ""
    env = {"FLASKAPP_DATA": str(data_dir)}
    with porch_serve(APP, "--root-path", "/shop", env=env) as server:
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
            environ = client.get(f"{sent}/wsgi").json()
            redirect = client.get(f"{sent}/old-users")
    assert (environ["script_name"], environ["path_info"]) == ("/shop", "/wsgi")
    assert redirect.status_code == 301
    assert redirect.headers["location"] == "/shop/users/"
