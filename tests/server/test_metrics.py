"""--metrics-path: Prometheus metrics of one server, and of many worker processes summed."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from porch import HTTPError, Request, Response
from porch.config import Config
from porch.errors import ConfigError
from porch.response import StreamingResponse
from porch.server import metrics
from tests.conftest import Reader, read_response
from tests.server.test_health import on_loop, request
from tests.server.test_lifecycle import DEADLINE, PorchProcess, get, send_get

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def scrape(sock: socket.socket, path: str = "/metrics") -> Samples:
    status, headers, body = request(sock, "GET", path)
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain; version=")
    return parse(body.decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class Gated:
    """A native app: /wait waits until the test opens the gate; /sleep works 50 ms;
    /missing is a 404; /stream streams; anything else answers at once."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.gate: asyncio.Event | None = None
        self.finished = threading.Event()
        self.slept = 0.0
        self.streamed = 0.0

    async def __call__(self, request: Request) -> Response:
        if request.path == "/wait":
            self.gate = asyncio.Event()
            self.started.set()
            await self.gate.wait()
            self.finished.set()
        elif request.path == "/sleep":
            began = time.perf_counter()
            await asyncio.sleep(0.05)  # the work being timed, not synchronisation
            self.slept = time.perf_counter() - began
        elif request.path == "/missing":
            raise HTTPError(404, "no such page")
        elif request.path == "/stream":
            return StreamingResponse(_pieces())
        elif request.path == "/slow-stream":
            return StreamingResponse(self._slow_pieces())
        return Response(b"done")

    async def _slow_pieces(self) -> AsyncIterator[bytes]:
        began = time.perf_counter()
        yield b"first"
        await asyncio.sleep(0.05)  # the body takes time after the app has returned
        yield b"last"
        self.streamed = time.perf_counter() - began


async def _pieces() -> AsyncIterator[bytes]:
    for piece in (b"a", b"b", b"c"):
        await asyncio.sleep(0)
        yield piece


def test_requests_are_counted_by_method_and_status(serve) -> None:
    with serve(Gated(), metrics_path="/metrics") as srv, srv.connect() as sock:
        before = scrape(sock)
        assert value(before, "porch_requests_total", method="GET", status="200") == 0
        assert value(before, "porch_connections_open") == 1  # this one
        for _ in range(2):
            request(sock, "GET", "/")
        assert request(sock, "GET", "/stream")[2] == b"abc"
        request(sock, "GET", "/missing")
        request(sock, "HEAD", "/")
        request(sock, "PROPFIND", "/")
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        assert Reader(sock).response()[0] == 200
        after = scrape(sock)
    assert value(after, "porch_requests_total", method="GET", status="200") == 3
    assert value(after, "porch_requests_total", method="GET", status="404") == 1
    assert value(after, "porch_requests_total", method="HEAD", status="200") == 1
    assert value(after, "porch_requests_total", method="other", status="200") == 1
    assert value(after, "porch_requests_total", method="POST", status="200") == 1
    assert value(after, "porch_request_duration_seconds_count") == 7  # scrapes are not counted
    assert value(after, "porch_request_duration_seconds_bucket", le="+Inf") == 7
    assert value(after, "porch_requests_in_flight") == 0
    assert value(after, "porch_connections_open") == 1
    assert ("porch_worker_restarts_total", frozenset()) in after


def test_duration_covers_the_app_and_a_streamed_body(serve) -> None:
    app = Gated()
    with serve(app, metrics_path="/metrics") as srv, srv.connect() as sock:
        assert request(sock, "GET", "/sleep")[0] == 200
        samples = scrape(sock)
        assert value(samples, "porch_request_duration_seconds_count") == 1
        assert value(samples, "porch_request_duration_seconds_sum") >= app.slept > 0.04
        assert value(samples, "porch_request_duration_seconds_bucket", le="0.025") == 0
        assert value(samples, "porch_request_duration_seconds_bucket", le="30.0") == 1
        assert request(sock, "GET", "/slow-stream")[2] == b"firstlast"
        samples = scrape(sock)
    assert value(samples, "porch_request_duration_seconds_count") == 2
    assert value(samples, "porch_request_duration_seconds_sum") >= app.slept + app.streamed
    assert value(samples, "porch_request_duration_seconds_bucket", le="0.025") == 0


def test_in_flight_and_open_connections(serve) -> None:
    app = Gated()
    with serve(app, metrics_path="/metrics") as srv, srv.connect() as probe:
        waiting = send_get(srv.port, "/wait")
        with waiting:
            assert app.started.wait(DEADLINE)
            during = scrape(probe)
            assert value(during, "porch_requests_in_flight") == 1
            assert value(during, "porch_connections_open") == 2
            on_loop(srv.server, lambda: app.gate.set())  # type: ignore[union-attr]
            assert read_response(waiting)[2] == b"done"
        after = scrape(probe)
        assert value(after, "porch_requests_in_flight") == 0
        assert value(after, "porch_requests_total", method="GET", status="200") == 1


def test_a_client_that_leaves_is_counted_as_499_once(serve) -> None:
    app = Gated()
    with serve(app, metrics_path="/metrics") as srv, srv.connect() as probe:
        with send_get(srv.port, "/wait"):
            assert app.started.wait(DEADLINE)
        deadline = time.monotonic() + DEADLINE
        while value(samples := scrape(probe), "porch_requests_in_flight"):  # server sees the close
            assert time.monotonic() < deadline, samples
        assert value(samples, "porch_requests_total", method="GET", status="499") == 1
        assert value(samples, "porch_connections_open") == 1
        on_loop(srv.server, lambda: app.gate.set())  # type: ignore[union-attr]
        assert app.finished.wait(DEADLINE)
        samples = scrape(probe)
    assert value(samples, "porch_requests_total", method="GET", status="499") == 1
    assert value(samples, "porch_request_duration_seconds_count") == 1


def test_metrics_without_prometheus_client_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"--metrics-path .* needs prometheus-client: pip"):
        Config(metrics_path="/metrics")
    Config()  # without metrics nothing is asked of it


# --- many processes ---------------------------------------------------------------------------


@pytest.fixture
def multiprocess(monkeypatch, tmp_path) -> dict[str, str]:
    """Play the supervisor: this process prepares the folder; everything is undone after."""
    monkeypatch.setenv(metrics.MULTIPROC_ENV, "restored-after-the-test")
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    monkeypatch.setattr(metrics, "_restarts", None)
    stale = tmp_path / "metrics" / "counter_1.db"
    stale.parent.mkdir()
    stale.write_bytes(b"left by an earlier run")
    env = metrics.prepare_multiprocess(str(tmp_path / "metrics"))
    assert not stale.exists()
    assert env == {metrics.MULTIPROC_ENV: str(tmp_path / "metrics")}
    return env


def test_metrics_add_up_across_worker_processes(multiprocess: dict[str, str]) -> None:
    args = ("serve", "tests.apps.lifecycle:app", "--port", "0", "--metrics-path", "/metrics")
    with (
        PorchProcess(*args, "--no-access-log", env=multiprocess) as one,
        PorchProcess(*args, "--no-access-log", env=multiprocess) as two,
    ):
        port_one, port_two = one.port(), two.port()
        for _ in range(3):
            assert get(port_one, "/")[0] == 200
        for _ in range(2):
            assert get(port_two, "/")[0] == 200
        metrics.count_worker_restart()
        held = socket.create_connection(("127.0.0.1", port_two), timeout=DEADLINE)
        with held, socket.create_connection(("127.0.0.1", port_one), timeout=DEADLINE) as sock:
            request(held, "GET", "/")  # surely accepted: counted open on worker two
            # Each worker hands its counts to the shared files once a second.
            samples = scrape_until(sock, lambda s: total(s) == 6, "six requests")
            assert value(samples, "porch_request_duration_seconds_count") == 6
            assert value(samples, "porch_worker_restarts_total") == 1
            with socket.create_connection(("127.0.0.1", port_two), timeout=DEADLINE) as other:
                from_two = scrape(other)
            assert total(from_two) == 6
            assert value(from_two, "porch_worker_restarts_total") == 1
            # held + this scrape's, once worker two has seen `other` close
            scrape_until(sock, lambda s: open_connections(s) == 2, "two open connections")
            # Worker two dies hard with its connection open: its gauge stays until the
            # supervisor reports the exit.
            two.proc.send_signal(signal.SIGKILL)
            two.finish()
            assert open_connections(scrape(sock)) == 2
            metrics.process_exited(two.proc.pid)
            after = scrape(sock)
        assert open_connections(after) == 1
        assert total(after) == 6
        assert get(port_one, "/last")[0] == 200
        one.signal(signal.SIGTERM)  # a clean exit hands over its last counts
        assert one.finish() == 0, one.transcript()
    registry = CollectorRegistry()
    MultiProcessCollector(registry, multiprocess[metrics.MULTIPROC_ENV])
    assert total(parse(generate_latest(registry).decode())) == 7


def total(samples: Samples) -> float:
    return value(samples, "porch_requests_total", method="GET", status="200")


def open_connections(samples: Samples) -> float:
    return value(samples, "porch_connections_open")


def scrape_until(sock: socket.socket, check: Any, what: str) -> Samples:
    deadline = time.monotonic() + DEADLINE
    while not check(samples := scrape(sock)):
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE}s: {samples}"
    return samples


def test_prepare_multiprocess_picks_a_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path / "from-env"))
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    monkeypatch.setattr(metrics, "_restarts", None)
    assert metrics.prepare_multiprocess() == {metrics.MULTIPROC_ENV: str(tmp_path / "from-env")}
    assert (tmp_path / "from-env").is_dir()
    monkeypatch.delenv(metrics.MULTIPROC_ENV)
    env = metrics.prepare_multiprocess()
    folder = env[metrics.MULTIPROC_ENV]
    try:
        assert os.path.isdir(folder) and os.path.basename(folder).startswith("porch-metrics-")
    finally:
        shutil.rmtree(folder)


def test_process_exited_without_multiprocess_is_harmless(monkeypatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    metrics.process_exited(os.getpid())
    metrics.count_worker_restart()
