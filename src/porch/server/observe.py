"""Health probes, metrics and timed access logs: a protocol that observes each request.

Why in the protocol and not as a wrapping app: the start and the end of a request (the last
byte of a streamed or file body) are only known to the connection, and a wrapper would add a
coroutine frame to every request. So the server picks its connections' class once, at start:

- nothing on: the plain `HTTPProtocol`, which pays nothing for any of this;
- only probes, no access log: `ProbingProtocol`, one dict look-up per request;
- metrics, a timed access-log format, or probes with an access log: `ObservedProtocol`,
  which stamps the start in `_run` and records in `_finished`.

The probe paths are compared with the request's raw path (bytes, query ignored) once per
request; a match is answered by a small native app in place of the user's app, so it works
for any kind of hosted app. Probe and metrics requests are neither logged nor counted: load
balancers poll them every few seconds and would drown the real traffic.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import TYPE_CHECKING, Any

from porch.config import Config
from porch.request import Request
from porch.response import Response
from porch.server.accesslog import AccessLog
from porch.server.protocol import HTTPProtocol
from porch.server.state import App, ServerState

if TYPE_CHECKING:
    from porch.server.metrics import Metrics

__all__ = ["ObservedProtocol", "Observer", "ProbingProtocol", "protocol_class"]

logger = logging.getLogger("porch.error")
_NOT_ALLOWED = {"allow": "GET, HEAD"}


class Observer:
    """What the observed connections of one server share."""

    __slots__ = ("log", "metrics", "probes", "in_flight", "connections", "shared")

    def __init__(
        self, log: AccessLog | None, metrics: Metrics | None, probes: dict[bytes, App]
    ) -> None:
        self.log = log
        self.metrics = metrics
        self.probes = probes
        self.in_flight = 0  # requests being answered (counted only with metrics on)
        self.connections = 0  # open connections (likewise)
        self.shared = metrics is not None and metrics.multiprocess  # other workers scrape too

    def publish(self) -> None:
        """Hand what was counted to prometheus-client: before each scrape and, with workers,
        on each tick of the server and at its end, so that other workers' scrapes see it."""
        if self.metrics is not None:
            self.metrics.publish(self.in_flight, self.connections)


def protocol_class(state: ServerState, app: Any) -> type[HTTPProtocol]:
    """The protocol for this server's connections; sets up `state.observer` when needed.

    `app` is the object the server was given: its ``ready()`` coroutine method, if any, is
    asked by the readiness probe.
    """
    config = state.config
    log = state.access_log_format if config.access_log else None
    timed_log = log is not None and log.timed
    if not (timed_log or config.health_path or config.ready_path or config.metrics_path):
        return HTTPProtocol
    metrics = None
    probes: dict[bytes, App] = {}
    if config.health_path:
        probes[config.health_path.encode("ascii")] = _live
    if config.ready_path:
        probes[config.ready_path.encode("ascii")] = _readiness(state, app, config)
    if config.metrics_path:
        from porch.server.metrics import Metrics

        metrics = Metrics()
    state.observer = observer = Observer(log, metrics, probes)
    if metrics is not None and config.metrics_path:
        probes[config.metrics_path.encode("ascii")] = _exposition(observer, metrics)
    if metrics is None and log is None:
        return ProbingProtocol  # nothing to time, count or log
    state.access_log = None  # the observed protocol writes the lines, with their times
    return ObservedProtocol


class ProbingProtocol(HTTPProtocol):
    """`HTTPProtocol` that answers the probe paths itself."""

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        observer = state.observer
        assert observer is not None  # protocol_class() set it before any connection
        self.observer = observer
        self.probes = observer.probes

    def _run(self, request: Request, app: Any = None) -> None:
        probe = self.probes.get(request.raw_path)
        if probe is None:
            super()._run(request, app)
        else:
            self._probe(request, probe)

    def _probe(self, request: Request, probe: App) -> None:
        HTTPProtocol._run(self, request, probe)  # answered by the probe's app, not the app


class ObservedProtocol(ProbingProtocol):
    """`ProbingProtocol` that also times, counts and logs each request (not the probes)."""

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        observer = self.observer
        self.metrics = observer.metrics
        self.log = observer.log
        self.timed: Request | None = None  # the request being timed, until it is recorded
        self.started = 0.0
        self.counted = False  # counted in the open connections gauge

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.metrics is not None and not self.closing:
            self.counted = True
            self.observer.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        request = self.timed
        if request is not None:
            self.timed = None  # the client left before its response was complete
            if self.metrics is not None:
                self.observer.in_flight -= 1
                self.metrics.observe(request.method, 499, time.perf_counter() - self.started)
        if self.counted:
            self.counted = False
            self.observer.connections -= 1
        super().connection_lost(exc)

    def _run(self, request: Request, app: Any = None) -> None:
        probe = self.probes.get(request.raw_path)
        if probe is not None:
            self._probe(request, probe)
            return
        self.timed = request
        if self.metrics is not None:
            self.observer.in_flight += 1
        self.started = time.perf_counter()
        HTTPProtocol._run(self, request, app)

    def _log_upgrade(self, request: Request) -> None:
        self.state.requests += 1
        self._record(request, 101, 0)

    def _upgraded_closed(self) -> None:
        super()._upgraded_closed()
        if self.counted:
            self.counted = False
            self.observer.connections -= 1

    def _finished(self, request: Request, status: int, size: int, keep_alive: bool) -> None:
        self._record(request, status, size)
        super()._finished(request, status, size, keep_alive)

    def _record(self, request: Request, status: int, size: int) -> None:
        if self.timed is request:
            self.timed = None
            seconds = time.perf_counter() - self.started
            if self.metrics is not None:
                self.observer.in_flight -= 1
                self.metrics.observe(request.method, status, seconds)
            if self.log is not None:
                self.log.log(request, status, size, seconds)


# The probe apps ----------------------------------------------------------------------------


def _text(body: bytes, status: int = 200) -> Response:
    return Response(body, status, {"cache-control": "no-store"}, "text/plain")


async def _live(request: Request) -> Response:
    """Liveness: the process answers HTTP. Says nothing about the app's dependencies."""
    if request.method not in ("GET", "HEAD"):
        return Response(b"", 405, _NOT_ALLOWED)
    return _text(b"ok\n")


def _readiness(state: ServerState, app: Any, config: Config) -> App:
    hook = getattr(app, "ready", None)
    if hook is not None and not inspect.iscoroutinefunction(hook):
        hook = None
    timeout = config.timeout_ready

    async def ready(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(b"", 405, _NOT_ALLOWED)
        if state.draining:
            return _text(b"draining\n", 503)
        if hook is not None:
            try:
                ok = await asyncio.wait_for(hook(), timeout)
            except TimeoutError:
                logger.warning("The app's ready() took longer than %gs: not ready", timeout)
                return _text(b"not ready: ready() timed out\n", 503)
            except Exception as exc:
                logger.error("The app's ready() failed: not ready", exc_info=exc)
                return _text(b"not ready: ready() failed\n", 503)
            if ok is not True:
                return _text(b"not ready\n", 503)
        return _text(b"ready\n")

    return ready


def _exposition(observer: Observer, metrics: Metrics) -> App:
    from prometheus_client import CONTENT_TYPE_LATEST

    async def scrape(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(b"", 405, _NOT_ALLOWED)
        observer.publish()
        # Reading every worker's files takes a while: keep the event loop free meanwhile.
        body = await asyncio.get_running_loop().run_in_executor(None, metrics.render)
        return Response(body, 200, {"content-type": CONTENT_TYPE_LATEST})

    return scrape
