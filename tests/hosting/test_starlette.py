"""Real Starlette apps hosted by porch: lifespan state and its failure with ``porch serve`` as a
subprocess, and connection, URL, root path, streamed upload and disconnect details in
process (``porch.interfaces.adapt`` on the real server)."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import read_response
from tests.hosting.apps import starletteapp
from tests.hosting.realapps import DEADLINE, PorchProcess, porch_serve, serve_asgi

pytestmark = pytest.mark.timeout(45)

APP = "tests.hosting.apps.starletteapp:app"
FAILING_APP = "tests.hosting.apps.starletteapp:failing_app"
DETAILS_APP = "tests.hosting.apps.starletteapp:details"


# --- lifespan, with porch serve ------------------------------------------------------------


def test_lifespan_state_startup_and_shutdown(tmp_path: Path) -> None:
    env = {"STARLETTE_MARKERS": str(tmp_path)}
    with porch_serve(APP, env=env) as server:
        # startup ran before the server started accepting
        pid = (tmp_path / "startup").read_text()
        assert pid == str(server.process.proc.pid)
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
            first = client.get("/state")
            assert first.status_code == 200, first.text
            assert first.json() == {
                "hits": 1,
                "greeting": "hello from the lifespan",
                "startup_ran": True,
            }
            # the state the lifespan yielded is shared by every request
            assert client.get("/state").json()["hits"] == 2
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as other:
            assert other.get("/state").json()["hits"] == 3
        assert not (tmp_path / "shutdown").exists()
    # porch_serve sent SIGTERM and saw a clean exit: the shutdown code ran in the process
    assert (tmp_path / "shutdown").read_text() == pid


def test_lifespan_off_runs_neither_startup_nor_shutdown(tmp_path: Path) -> None:
    env = {"STARLETTE_MARKERS": str(tmp_path)}
    with porch_serve(APP, "--lifespan", "off", env=env) as server:
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
            # no lifespan, no state: the route's request.state lookup fails
            assert client.get("/state").status_code == 500
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", ["on", "auto"])
def test_failing_lifespan_startup_stops_porch(mode: str) -> None:
    with PorchProcess("serve", FAILING_APP, "--port", "0", "--lifespan", mode) as process:
        code = process.finish()
    log = "\n".join(process.lines["stderr"])
    assert code != 0, process.transcript()
    assert "cannot reach the database at startup" in log
    assert "listening on" not in log


# --- connection, URL and body details, in process -------------------------------------------


@pytest.fixture
def events() -> Iterator[starletteapp.Events]:
    starletteapp.events.reset()
    yield starletteapp.events


@pytest.fixture(scope="module")
def details() -> Iterator[str]:
    with serve_asgi(starletteapp.details) as server:
        yield server.url


@pytest.fixture(scope="module")
def details_under_api() -> Iterator[str]:
    with serve_asgi(starletteapp.details, root_path="/api") as server:
        yield server.url


def test_request_client_is_the_peer(details: str) -> None:
    port = httpx.URL(details).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(b"GET /client HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        status, _, body = read_response(sock, DEADLINE)
        local_port = sock.getsockname()[1]
    assert status == 200
    assert httpx.Response(200, content=body).json() == {"host": "127.0.0.1", "port": local_port}


def test_request_url_and_url_for(details: str) -> None:
    with httpx.Client(base_url=details, timeout=DEADLINE) as client:
        data = client.get("/url", params={"x": "1 2", "y": "é"}).json()
    assert data == {
        "url": f"{details}/url?x=1+2&y=%C3%A9",
        "path": "/url",
        "query": "x=1+2&y=%C3%A9",
        "root_path": "",
        "base_url": f"{details}/",
        "url_for": f"{details}/items/7",
        "mounted": f"{details}/sub/leaf",
    }


def test_root_path_prefixes_built_urls(details_under_api: str) -> None:
    base = details_under_api
    with httpx.Client(base_url=base, timeout=DEADLINE) as client:
        # the proxy in front strips /api; the app still builds links with it
        data = client.get("/url", params={"x": "1"}).json()
        assert client.get("/items/5").json() == {"item_id": 5}
        assert client.get("/sub/leaf").text == "leaf"
    assert data == {
        "url": f"{base}/api/url?x=1",
        "path": "/api/url",
        "query": "x=1",
        "root_path": "/api",
        "base_url": f"{base}/api/",
        "url_for": f"{base}/api/items/7",
        "mounted": f"{base}/api/sub/leaf",
    }


def test_root_path_flag_of_porch_serve() -> None:
    with porch_serve(DETAILS_APP, "--root-path", "/api") as server:
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
            data = client.get("/url").json()
    assert data["root_path"] == "/api"
    assert data["url_for"] == f"{server.url}/api/items/7"


def test_request_stream_reads_a_large_upload_in_pieces(details: str) -> None:
    body = os.urandom(3 * 1024 * 1024)
    expected = {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    with httpx.Client(base_url=details, timeout=DEADLINE) as client:
        sized = client.post("/upload", content=body).json()
        chunked = client.post(
            "/upload", content=(body[i : i + 100_000] for i in range(0, len(body), 100_000))
        ).json()
    # more_body: the body came as several messages, not buffered into one
    assert sized.pop("chunks") > 1
    assert chunked.pop("chunks") > 1
    assert sized == chunked == expected


def test_is_disconnected_notices_the_client_leaving(
    details: str, events: starletteapp.Events
) -> None:
    port = httpx.URL(details).port
    assert port is not None
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    with sock:
        sock.sendall(b"GET /longpoll HTTP/1.1\r\nHost: t\r\n\r\n")
        assert events.waiting.wait(DEADLINE)
    assert events.stopped.wait(DEADLINE), "the endpoint never saw the disconnect"
    assert events.how == ["is_disconnected"]


def test_streaming_endpoint_stops_when_the_client_leaves(
    details: str, events: starletteapp.Events
) -> None:
    port = httpx.URL(details).port
    assert port is not None
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    with sock:
        sock.sendall(b"GET /ticker HTTP/1.1\r\nHost: t\r\n\r\n")
        received = b""
        while b"tick 0\n" not in received:
            data = sock.recv(65536)
            assert data, received
            received += data
        assert received.startswith(b"HTTP/1.1 200 ")
    assert events.stopped.wait(DEADLINE), "the generator kept running after the client left"
    assert "timeout" not in events.how
