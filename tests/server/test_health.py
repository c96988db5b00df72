"""--health-path and --ready-path: probes the server answers itself, before the app."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from porch import Request, Response
from porch.web import App
from tests.apps.lifecycle import SLOW_BODY
from tests.conftest import Reader, exchange, read_response
from tests.server.capture import capture
from tests.server.test_lifecycle import DEADLINE, DRAINING, get, send_get, serve_app


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    yield from capture("porch.access")


@pytest.fixture
def error_lines() -> Iterator[list[str]]:
    yield from capture("porch.error")


class Recorder:
    """A native app that answers 'app' and remembers the paths it was asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, request: Request) -> Response:
        self.paths.append(request.path)
        await asyncio.sleep(0)  # really suspend: the request runs as a task
        return Response(b"app", media_type="text/plain")


def request(sock: socket.socket, method: str, target: str) -> tuple[int, dict[str, str], bytes]:
    sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return Reader(sock).response(head_only=method == "HEAD")


def on_loop(server: Any, action: Any) -> None:
    """Run `action()` on the server's event loop and wait until it has run."""
    done = threading.Event()

    def run() -> None:
        action()
        done.set()

    server.state.loop.call_soon_threadsafe(run)
    assert done.wait(DEADLINE)


def test_probe_paths_reach_the_app_when_off(serve) -> None:
    app = Recorder()
    with serve(app) as srv, srv.connect() as sock:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert request(sock, "GET", path)[2] == b"app"
    assert app.paths == ["/healthz", "/readyz", "/metrics"]


def test_health_path_answers_before_the_app(serve) -> None:
    app = Recorder()
    with serve(app, health_path="/healthz") as srv, srv.connect() as sock:
        status, headers, body = request(sock, "GET", "/healthz")
        assert (status, body) == (200, b"ok\n")
        assert headers["content-type"].startswith("text/plain")
        assert headers["cache-control"] == "no-store"
        assert request(sock, "GET", "/healthz?from=lb")[:3:2] == (200, b"ok\n")
        status, headers, _ = request(sock, "HEAD", "/healthz")
        assert (status, headers["content-length"]) == (200, "3")
        status, headers, _ = request(sock, "POST", "/healthz")
        assert (status, headers["allow"]) == (405, "GET, HEAD")
        # only the exact path: neighbours and the decoded form belong to the app
        for path in ("/healthz/", "/healthzz", "/Healthz", "/health%7a"):
            assert request(sock, "GET", path)[2] == b"app", path
    assert app.paths == ["/healthz/", "/healthzz", "/Healthz", "/healthz"]


def test_probes_keep_their_place_among_pipelined_requests(serve) -> None:
    app = Recorder()
    with serve(app, health_path="/healthz", ready_path="/readyz") as srv, srv.connect() as sock:
        sock.sendall(
            b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /c HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        reader = Reader(sock)
        bodies = [reader.response()[2] for _ in range(5)]
    assert bodies == [b"app", b"ok\n", b"app", b"ready\n", b"app"]
    assert app.paths == ["/a", "/b", "/c"]


def test_probes_are_not_in_the_access_log(serve, access_lines: list[str]) -> None:
    app = Recorder()
    options = {"health_path": "/healthz", "ready_path": "/readyz", "access_log": True}
    with serve(app, **options) as srv, srv.connect() as sock:
        for path in ("/healthz", "/page", "/readyz", "/other"):
            request(sock, "GET", path)
    assert len(access_lines) == 2, access_lines
    assert '"GET /page HTTP/1.1" 200 3' in access_lines[0]
    assert '"GET /other HTTP/1.1" 200 3' in access_lines[1]


@pytest.mark.parametrize("kind", ["native", "framework"])
def test_probes_work_for_any_app(serve, kind: str) -> None:
    if kind == "native":
        app: Any = Recorder()
    else:
        app = App()

        @app.get("/")
        async def index() -> str:
            return "framework"

    with serve(app, health_path="/live", ready_path="/ready") as srv, srv.connect() as sock:
        assert request(sock, "GET", "/live")[2] == b"ok\n"
        assert request(sock, "GET", "/ready")[2] == b"ready\n"
        assert request(sock, "GET", "/")[0] == 200


def test_ready_path_turns_503_once_the_server_drains(serve) -> None:
    with serve(Recorder(), ready_path="/readyz") as srv, srv.connect() as sock:
        assert request(sock, "GET", "/readyz")[:3:2] == (200, b"ready\n")
        # What Server._shutdown does first; here the listener stays open to ask again.
        on_loop(srv.server, lambda: setattr(srv.server.state, "draining", True))
        status, headers, body = request(sock, "GET", "/readyz")
        assert (status, body) == (503, b"draining\n")
        assert headers["connection"] == "close"


def test_ready_probe_fails_while_a_real_server_drains() -> None:
    """SIGTERM with a slow request in flight: readiness fails at once (the listener closes),
    the slow request still completes."""
    with serve_app("--ready-path", "/readyz", "--no-access-log") as porch:
        port = porch.port()
        assert get(port, "/readyz")[:3:2] == (200, b"ready\n")
        slow = send_get(port, "/slow?delay=2")
        porch.wait_for("SLOW-STARTED")
        porch.signal(signal.SIGTERM)
        porch.wait_for(DRAINING)
        deadline = time.monotonic() + DEADLINE
        while True:  # the listener closes right after the log line: poll for it
            try:
                status = get(port, "/readyz")[0]
            except (ConnectionRefusedError, ConnectionResetError):
                break
            assert status in (200, 503), status
            if status == 503:
                break
            assert time.monotonic() < deadline, "readiness still 200 while draining"
        with slow:
            status, _, body = read_response(slow)
        assert (status, body) == (200, SLOW_BODY)
        assert porch.finish() == 0, porch.transcript()


class WithReadyHook:
    """A native app object with an ``async ready()`` the test controls."""

    def __init__(self) -> None:
        self.answer: Any = True
        self.calls = 0

    async def __call__(self, request: Request) -> Response:
        return Response(b"app")

    async def ready(self) -> bool:
        self.calls += 1
        if self.answer == "raise":
            raise RuntimeError("database unreachable")
        if self.answer == "hang":
            await asyncio.Event().wait()
        return bool(self.answer)


def test_ready_hook_of_the_app_decides(serve, error_lines: list[str]) -> None:
    app = WithReadyHook()
    with serve(app, ready_path="/readyz", timeout_ready=0.2) as srv, srv.connect() as sock:
        assert request(sock, "GET", "/readyz")[:3:2] == (200, b"ready\n")
        app.answer = False
        assert request(sock, "GET", "/readyz")[:3:2] == (503, b"not ready\n")
        app.answer = "raise"
        assert request(sock, "GET", "/readyz")[:3:2] == (503, b"not ready: ready() failed\n")
        assert any("ready() failed" in line for line in error_lines), error_lines
        app.answer = "hang"
        started = time.monotonic()
        status, _, body = request(sock, "GET", "/readyz")
        assert (status, body) == (503, b"not ready: ready() timed out\n")
        assert time.monotonic() - started < DEADLINE
        app.answer = True
        assert request(sock, "GET", "/readyz")[0] == 200  # the connection is still good
        assert request(sock, "GET", "/other")[2] == b"app"
    assert app.calls == 5


def test_liveness_does_not_ask_the_ready_hook(serve) -> None:
    app = WithReadyHook()
    app.answer = False
    with serve(app, health_path="/healthz", ready_path="/readyz") as srv:
        raw = exchange(srv.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert raw.startswith(b"HTTP/1.1 200 ")
    assert app.calls == 0


def test_ready_hook_on_a_framework_app(serve) -> None:
    """The documented way: a porch.App subclass with ``async def ready``."""

    class MyApp(App):
        healthy = True

        async def ready(self) -> bool:
            return self.healthy

    app = MyApp()
    with serve(app, ready_path="/readyz") as srv, srv.connect() as sock:
        assert request(sock, "GET", "/readyz")[0] == 200
        app.healthy = False
        assert request(sock, "GET", "/readyz")[:3:2] == (503, b"not ready\n")
