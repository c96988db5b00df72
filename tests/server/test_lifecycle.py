"""Starting, binding and stopping porch: signals, graceful drain, sockets, crash isolation.

Subprocess tests run ``python -m porch serve tests.apps.lifecycle:app`` and never sleep to
synchronise: they wait (with a deadline) for lines the server or the app writes on stderr,
for responses, or for the server closing a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from porch import Config, ConfigError, Request, Response, Server
from tests.apps.lifecycle import SLOW_BODY
from tests.conftest import Reader, read_response, recv_all

pytestmark = pytest.mark.timeout(45)

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 10.0  # the most any single wait may take before the test fails
APP = "tests.apps.lifecycle:app"
LISTENING = r"porch listening on http://127\.0\.0\.1:(\d+) "
DRAINING = r"(SIGTERM|SIGINT): finishing requests in flight"


# --- a porch subprocess ---------------------------------------------------------------------


class PorchProcess:
    """``python -m porch <args>`` (or `command` + args), cwd at the repository root.

    Two threads read stdout and stderr line by line, so a test can wait for a line with a
    deadline (`wait_for`) and still see everything afterwards (`lines`). ``PORCH_*``
    variables of the outer environment are not passed on; `env` adds variables.
    """

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        pass_fds: tuple[int, ...] = (),
        cwd: Path | None = None,
    ) -> None:
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("PORCH_")}
        child_env.update(env or {})
        self.command = [*(command or [sys.executable, "-m", "porch"]), *args]
        self.proc = subprocess.Popen(
            self.command,
            cwd=cwd or ROOT,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            pass_fds=pass_fds,
        )
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._queues: dict[str, queue.Queue[str | None]] = {
            name: queue.Queue() for name in self.lines
        }
        self._readers = [
            threading.Thread(target=self._read, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, stream: Any) -> None:
        for line in stream:
            line = line.rstrip("\n")
            self.lines[name].append(line)
            self._queues[name].put(line)
        self._queues[name].put(None)

    def transcript(self) -> str:
        stderr = "\n".join(list(self.lines["stderr"]))
        stdout = "\n".join(list(self.lines["stdout"]))
        return (
            f"command: {self.command}\nexit code: {self.proc.poll()}\n"
            f"--- stderr\n{stderr}\n--- stdout\n{stdout}"
        )

    def wait_for(
        self, pattern: str, stream: str = "stderr", timeout: float = DEADLINE
    ) -> re.Match[str]:
        """The first line not yet waited for on `stream` that matches `pattern`."""
        lines = self._queues[stream]
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} on {stream} within {timeout}s\n"
                    + self.transcript()
                ) from None
            if line is None:
                lines.put(None)
                raise AssertionError(
                    f"{stream} closed before a line matched {pattern!r}\n" + self.transcript()
                )
            match = re.search(pattern, line)
            if match:
                return match

    def port(self) -> int:
        """Wait for the "listening on" line; the TCP port it names."""
        return int(self.wait_for(LISTENING).group(1))

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = DEADLINE) -> int:
        """Wait for the process to exit (fail after `timeout`) and for its output to be read."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"porch still running {timeout}s later\n" + self.transcript()
            ) from None
        for reader in self._readers:
            reader.join(DEADLINE)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(DEADLINE)
        for reader in self._readers:
            reader.join(DEADLINE)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> PorchProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_app(*args: str, **kwargs: Any) -> PorchProcess:
    return PorchProcess("serve", APP, *args, **kwargs)


def get(port: int, target: str, timeout: float = DEADLINE) -> tuple[int, dict[str, str], bytes]:
    """One GET on a new connection (``Connection: close``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        return read_response(sock, timeout)


def send_get(port: int, target: str) -> socket.socket:
    """A keep-alive connection with one GET sent, its response not read yet."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return sock


def assert_refused(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=DEADLINE).close()


# --- an in-process server on any address ----------------------------------------------------


@contextlib.contextmanager
def serving(app: Callable[..., Any], **options: Any) -> Iterator[Server]:
    """Run `Server(app, Config(**options))` in a thread; stop it and wait for it on exit."""
    options.setdefault("access_log", False)
    server = Server(app, Config(**options))
    errors: list[BaseException] = []

    def target() -> None:
        try:
            server.run(install_signals=False)
        except BaseException as exc:
            errors.append(exc)
            server.started.set()

    thread = threading.Thread(target=target, name="porch-lifecycle", daemon=True)
    thread.start()
    assert server.started.wait(DEADLINE), "the server did not start"
    if errors:
        thread.join(DEADLINE)
        raise errors[0]
    try:
        yield server
    finally:
        server.stop()
        thread.join(DEADLINE)
        assert not thread.is_alive(), "the server did not stop"
    if errors:
        raise errors[0]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [record.getMessage() for record in list(self.records)]


@contextlib.contextmanager
def porch_log() -> Iterator[_Records]:
    """Every record of the ``porch.error`` logger (INFO and up) while the block runs."""
    logger = logging.getLogger("porch.error")
    handler = _Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def hello(request: Request) -> Response:
    return Response(b"hello " + request.path.encode(), media_type="text/plain")


def http_get(sock: socket.socket, target: str = "/") -> tuple[int, dict[str, str], bytes]:
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return Reader(sock, DEADLINE).response()


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


# --- graceful shutdown on signals -----------------------------------------------------------


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_lets_request_in_flight_finish(sig: int, loop: str) -> None:
    grace = 10.0
    with serve_app("--port", "0", "--loop", loop, "--timeout-graceful", str(grace)) as porch:
        port = porch.port()
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as idle:
            assert http_get(idle, "/")[0] == 200  # now an idle keep-alive connection
            with send_get(port, "/slow?delay=1") as slow:
                porch.wait_for("SLOW-STARTED")
                porch.signal(sig)
                started = time.monotonic()
                porch.wait_for(DRAINING)
                # The idle connection is closed after the listening socket (see _shutdown):
                # once it is, a new connection must be refused.
                assert recv_all(idle, DEADLINE) == b""
                assert_refused(port)
                status, headers, body = Reader(slow, DEADLINE).response()
                assert status == 200
                assert body == SLOW_BODY
                assert headers["connection"] == "close"
                assert recv_all(slow, DEADLINE) == b""
        assert porch.finish(grace) == 0
        assert time.monotonic() - started < grace
    assert any("porch stopped" in line for line in porch.lines["stderr"])
    assert not any("timed out" in line for line in porch.lines["stderr"])


def test_idle_keep_alive_connections_close_at_once() -> None:
    patient = ["--timeout-graceful", "30", "--timeout-keep-alive", "60", "--timeout-head", "60"]
    with serve_app("--port", "0", *patient) as porch:
        port = porch.port()
        with (
            socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as idle,
            socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as silent,
            send_get(port, "/hang") as busy,
        ):
            assert http_get(idle, "/")[0] == 200
            porch.wait_for("HANG-STARTED")  # /hang keeps the server draining
            porch.signal(signal.SIGTERM)
            started = time.monotonic()
            porch.wait_for(DRAINING)
            assert recv_all(idle, 3.0) == b""
            assert recv_all(silent, 3.0) == b""
            assert time.monotonic() - started < 3.0, "idle connections waited for the grace"
            assert porch.proc.poll() is None, "porch exited instead of draining /hang"
            porch.signal(signal.SIGTERM)
            assert porch.finish() == 0
            assert recv_all(busy, DEADLINE) == b""


@pytest.mark.parametrize("when", ["streaming", "asked-while-draining"])
def test_event_streams_end_at_once_on_shutdown(when: str) -> None:
    # An EventStream has no end of its own: it must not hold the drain for the whole grace
    # period. It ends as a complete chunked response (the browser reconnects elsewhere).
    grace = 30.0
    with serve_app("--port", "0", "--timeout-graceful", str(grace)) as porch:
        port = porch.port()
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
            if when == "asked-while-draining":
                with send_get(port, "/hang"):  # keeps the server draining meanwhile
                    porch.wait_for("HANG-STARTED")
                    client.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                    Reader(client, DEADLINE).response()  # now busy since this tick
                    porch.signal(signal.SIGTERM)
                    porch.wait_for(DRAINING)
                    client.sendall(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
                    received = recv_all(client, DEADLINE)
                    porch.signal(signal.SIGTERM)  # ends /hang
                assert received.startswith(b"HTTP/1.1 200 ")
                assert received.endswith(b"\r\n\r\n0\r\n\r\n"), received[-80:]
                assert b"data: first" not in received
                assert porch.finish() == 0
                return
            client.sendall(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
            porch.wait_for("EVENTS-STARTED")
            porch.signal(signal.SIGTERM)
            started = time.monotonic()
            received = recv_all(client, DEADLINE)
        assert porch.finish(grace) == 0
        assert time.monotonic() - started < 10.0, "the event stream held the drain"
    assert received.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" not in received.split(b"\r\n\r\n")[0]  # sent before
    assert b"data: first" in received
    assert received.endswith(b"\r\n0\r\n\r\n"), received[-80:]  # a complete response
    stderr = porch.lines["stderr"]
    assert "EVENTS-CLOSED" in stderr  # the source's finally ran
    assert not any("timed out" in line for line in stderr)


def test_grace_period_expiry_closes_what_is_left() -> None:
    with serve_app("--port", "0", "--timeout-graceful", "1") as porch:
        port = porch.port()
        with send_get(port, "/hang") as busy:
            porch.wait_for("HANG-STARTED")
            porch.signal(signal.SIGTERM)
            started = time.monotonic()
            assert porch.finish(5.0) == 0
            assert time.monotonic() - started < 3.0
            assert recv_all(busy, DEADLINE) == b""  # no response, the connection closed
    assert any(
        "Graceful shutdown timed out: closing 1 connection(s)" in line
        for line in porch.lines["stderr"]
    )


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_second_signal_ends_the_drain_at_once(second: int) -> None:
    with serve_app("--port", "0", "--timeout-graceful", "30") as porch:
        port = porch.port()
        with send_get(port, "/hang") as busy:
            porch.wait_for("HANG-STARTED")
            porch.signal(signal.SIGTERM)
            porch.wait_for(DRAINING)
            porch.signal(second)
            started = time.monotonic()
            porch.wait_for(r"Second (SIGTERM|SIGINT): closing every connection now")
            assert porch.finish(5.0) == 0
            assert time.monotonic() - started < 3.0
            assert recv_all(busy, DEADLINE) == b""


def test_second_signal_ends_the_drain_when_the_client_already_left() -> None:
    """The drain waits for the app's task even when its client is gone; a second signal must
    still end it at once."""
    with serve_app("--port", "0", "--timeout-graceful", "30") as porch:
        port = porch.port()
        with send_get(port, "/hang"):
            porch.wait_for("HANG-STARTED")
        # The client closed first: by the time a later connection is answered, the server has
        # seen that close (its FIN reached the server before this request).
        assert get(port, "/")[0] == 200
        porch.signal(signal.SIGTERM)
        porch.wait_for(DRAINING)
        porch.signal(signal.SIGTERM)
        started = time.monotonic()
        porch.wait_for(r"Second SIGTERM: closing every connection now")
        assert porch.finish(5.0) == 0, "the second SIGTERM did not end the drain"
        assert time.monotonic() - started < 3.0


# --- Server.stop() in a thread ---------------------------------------------------------------


def test_stop_lets_request_in_flight_finish(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    started = threading.Event()
    held: dict[str, Any] = {}

    async def app(request: Request) -> Response:
        if request.path != "/wait":
            return Response(b"ok")
        release = asyncio.Event()
        held["loop"], held["release"] = asyncio.get_running_loop(), release
        started.set()
        await release.wait()
        return Response(b"finished after stop()")

    with serve(app, timeout_graceful=10) as srv:
        with srv.connect(DEADLINE) as idle, srv.connect(DEADLINE) as busy:
            assert http_get(idle, "/")[0] == 200
            busy.sendall(b"GET /wait HTTP/1.1\r\nHost: t\r\n\r\n")
            assert started.wait(DEADLINE)
            srv.server.stop()
            # The shutdown is under way: idle connections close, new ones are refused...
            assert recv_all(idle, DEADLINE) == b""
            assert_refused(srv.port)
            # ...and only now does the request in flight get to finish.
            held["loop"].call_soon_threadsafe(held["release"].set)
            status, headers, body = Reader(busy, DEADLINE).response()
            assert (status, body) == (200, b"finished after stop()")
            assert headers["connection"] == "close"
            assert recv_all(busy, DEADLINE) == b""
        srv.thread.join(DEADLINE)
        assert not srv.thread.is_alive()
        # The fixture calls stop() again on exit; once the server has ended that raises
        # (test_stop_after_the_server_ended_is_harmless checks that on its own).
        monkeypatch.setattr(srv.server, "stop", lambda: None)


def test_stop_after_the_server_ended_is_harmless() -> None:
    server = Server(hello, Config(port=0, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    assert server.started.wait(DEADLINE)
    server.stop()
    thread.join(DEADLINE)
    assert not thread.is_alive()
    server.stop()  # documented as callable from any thread: a no-op now


def test_stop_before_the_loop_runs_is_not_lost() -> None:
    server = Server(hello, Config(port=0, access_log=False))
    server.stop()
    thread = threading.Thread(target=server.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        thread.join(3.0)  # starting and stopping takes milliseconds
        assert not thread.is_alive(), "stop() called before run() was forgotten"
    finally:
        if thread.is_alive():
            assert server.started.wait(DEADLINE)
            server.stop()
            thread.join(DEADLINE)


# --- where porch listens ---------------------------------------------------------------------


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback() -> None:
    with serving(hello, host="::1", port=0) as server:
        match = re.fullmatch(r"http://\[::1\]:(\d+)", server.addresses[0])
        assert match, server.addresses
        with socket.create_connection(("::1", int(match.group(1))), timeout=DEADLINE) as sock:
            status, _, body = http_get(sock, "/v6")
            assert (status, body) == (200, b"hello /v6")


def unix_get(path: str, target: str = "/") -> tuple[int, dict[str, str], bytes]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(DEADLINE)
        sock.connect(path)
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        return read_response(sock, DEADLINE)


def test_unix_socket_serves_and_is_removed(tmp_path: Path) -> None:
    path = str(tmp_path / "porch.sock")
    with serving(hello, uds=path) as server:
        assert server.addresses == [f"unix:{path}"]
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert unix_get(path, "/uds")[::2] == (200, b"hello /uds")
    assert not os.path.exists(path)


def test_unix_socket_left_by_a_killed_server_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "porch.sock")
    with serve_app("--uds", path) as first:
        first.wait_for(r"porch listening on unix:" + re.escape(path))
        assert unix_get(path)[0] == 200
        first.proc.kill()
        first.finish()
    assert stat.S_ISSOCK(os.stat(path).st_mode)  # stale: nobody listens on it
    with serve_app("--uds", path) as second:
        second.wait_for(r"porch listening on unix:" + re.escape(path))
        assert unix_get(path, "/again")[::2] == (200, b"hello")
        second.signal(signal.SIGTERM)
        assert second.finish() == 0
    assert not os.path.exists(path)


def test_unix_socket_path_taken_by_a_regular_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not-a-socket"
    path.write_text("keep me")
    server = Server(hello, Config(uds=str(path)))
    with pytest.raises(ConfigError, match="exists and is not a socket"):
        server.run(install_signals=False)
    assert path.read_text() == "keep me"


@pytest.mark.parametrize("family", ["inet", "unix"])
def test_inherited_socket(family: str, tmp_path: Path) -> None:
    if family == "inet":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    else:
        path = str(tmp_path / "inherited.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
    fd = sock.detach()  # the server owns the descriptor from here on
    with serving(hello, fd=fd):
        if family == "inet":
            assert get(port, "/fd")[::2] == (200, b"hello /fd")
        else:
            assert unix_get(path, "/fd")[::2] == (200, b"hello /fd")
    if family == "inet":
        assert_refused(port)  # the inherited socket was closed at shutdown


def test_inherited_socket_from_the_command_line() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        porch = serve_app("--fd", str(sock.fileno()), pass_fds=(sock.fileno(),))
    with porch:
        assert porch.port() == port
        assert get(port, "/")[::2] == (200, b"hello")
        porch.signal(signal.SIGTERM)
        assert porch.finish() == 0
    assert_refused(port)


def test_port_zero_reports_the_real_port() -> None:
    with porch_log() as log, serving(hello, port=0) as server:
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", server.addresses[0])
        assert match, server.addresses
        port = int(match.group(1))
        assert port != 0
        assert get(port, "/")[0] == 200
    assert f"porch listening on http://127.0.0.1:{port} (press CTRL+C to quit)" in log.messages()


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Server(hello, Config(port=port))
        with pytest.raises(ConfigError, match=rf"cannot listen on 127\.0\.0\.1:{port}: .*in use"):
            server.run(install_signals=False)


# --- crash isolation -------------------------------------------------------------------------


async def crashing(request: Request) -> Response:
    if request.path == "/boom":
        raise RuntimeError("boom")
    if request.path == "/boom-later":
        await asyncio.sleep(0)
        raise RuntimeError("boom later")
    if request.path == "/cancelled":
        raise asyncio.CancelledError
    if request.path == "/cancelled-later":
        await asyncio.sleep(0)
        raise asyncio.CancelledError
    return Response(b"still here")


@pytest.mark.parametrize("target", ["/boom", "/boom-later"])
def test_app_exception_is_a_500_and_the_server_goes_on(serve: Any, target: str) -> None:
    with porch_log() as log, serve(crashing) as srv:
        with srv.connect(DEADLINE) as other, srv.connect(DEADLINE) as sock:
            assert http_get(other, "/")[0] == 200
            status, _, body = http_get(sock, target)
            assert (status, body) == (500, b"Internal Server Error\n")
            assert http_get(sock, "/")[::2] == (200, b"still here")  # same connection
            assert http_get(other, "/")[::2] == (200, b"still here")  # one opened before
        assert get(srv.port, "/")[::2] == (200, b"still here")  # a new one
    errors = [r for r in log.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [f"Exception in app for GET {target}"]
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is RuntimeError


@pytest.mark.parametrize("target", ["/cancelled", "/cancelled-later"])
def test_app_raising_cancelled_error_still_gets_an_answer(serve: Any, target: str) -> None:
    """An app may let a CancelledError escape (it awaited a task that was cancelled): the
    client must get a 500, not a dropped or forever-open connection."""
    with serve(crashing, timeout_graceful=2) as srv:
        with srv.connect(DEADLINE) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            try:
                status = Reader(sock, 3.0).response()[0]
            except TimeoutError:
                pytest.fail(f"no response to GET {target} within 3s: the connection hangs")
            except AssertionError:
                pytest.fail(f"the connection closed with no response to GET {target}")
            assert status == 500
        assert get(srv.port, "/")[::2] == (200, b"still here")
