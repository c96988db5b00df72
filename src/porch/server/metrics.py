"""Prometheus metrics of the server, on prometheus-client, that add up across workers.

A server started with ``--metrics-path`` counts every answered request (method, status),
times it (a histogram in seconds, from the start of the app call to the response's last
byte), and tracks requests in flight and open connections. Nothing here runs when metrics
are off: the server only installs its hooks when they are on.

Per request, `observe()` only adds to plain numbers; `publish()` hands the sums to
prometheus-client before each scrape, and with workers also once a second (the server's
tick) and at shutdown, so the other workers' scrapes see them. That keeps prometheus-client's
locks and, with workers, its file writes off the per-request path, at the price of another
worker's figures being up to a second old (and a worker killed with SIGKILL losing its last
second).

One process or many: when ``PROMETHEUS_MULTIPROC_DIR`` is set (before the first metric is
made), every process writes its values to files in that folder, and a scrape of any worker
reads them all (`MultiProcessCollector`): counters and histograms are summed, gauges summed
over live processes (``livesum``). The worker supervisor calls, in its own process:

- `prepare_multiprocess(directory)` once at start: empties the folder and returns the
  environment variables to give each worker;
- `process_exited(pid)` when a worker has exited, so its gauges stop counting;
- `count_worker_restart()` each time it replaces a worker that died.
"""

from __future__ import annotations

import os
import tempfile
from bisect import bisect_left
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import Counter

__all__ = [
    "BUCKETS",
    "MULTIPROC_ENV",
    "Metrics",
    "count_worker_restart",
    "prepare_multiprocess",
    "process_exited",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Request durations in seconds: from a cached page (1 ms) to a slow report (30 s).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Methods counted under their own name; any other is counted as "other", so the label's
# values stay few whatever clients send.
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))
_RESTARTS = ("porch_worker_restarts", "Workers the supervisor replaced after they died.")


def _use_multiprocess_values() -> None:
    """prometheus-client picks how values are stored when it is first imported; switch it to
    files if the variable was set only later in this process (the supervisor's case)."""
    from prometheus_client import values

    if os.environ.get(MULTIPROC_ENV) and values.ValueClass is values.MutexValue:
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


class Metrics:
    """The metrics of one server. `observe()` records one answered request."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        if self.multiprocess:
            _use_multiprocess_values()
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "porch_requests",
            "HTTP requests answered, by method and status code.",
            ["method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "porch_request_duration_seconds",
            "Seconds from the start of the app call to the response's last byte.",
            buckets=BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "porch_requests_in_flight",
            "Requests being answered now.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.connections = Gauge(
            "porch_connections_open",
            "Open client connections.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        Counter(*_RESTARTS, registry=registry)  # shown as 0; the supervisor's count adds up
        # Recorded per request in plain numbers; handed to prometheus-client in `publish()`.
        self._counts: dict[tuple[str, int], int] = {}
        self._bucket_counts = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self._seconds = 0.0
        self._children: dict[tuple[str, int], Any] = {}

    def observe(self, method: str, status: int, seconds: float) -> None:
        """One request answered (or given up on: status 499) after `seconds`."""
        counts = self._counts
        key = (method, status)
        counts[key] = counts.get(key, 0) + 1
        self._bucket_counts[bisect_left(BUCKETS, seconds)] += 1  # first bound >= seconds
        self._seconds += seconds

    def publish(self, in_flight: int, connections: int) -> None:
        """Hand what was recorded since the last call to prometheus-client, and set the
        gauges. Call it from the thread that calls `observe` (the event loop's)."""
        for (method, status), count in self._counts.items():
            child = self._children.get((method, status))
            if child is None:
                label = method if method in _METHODS else "other"
                child = self._children[method, status] = self.requests.labels(label, str(status))
            child.inc(count)
        self._counts.clear()
        buckets = self._bucket_counts
        if any(buckets):
            # prometheus-client has no public call to add many observations at once; its
            # histogram keeps one value per bucket (not cumulative) and one for the sum.
            values = self.duration._buckets
            for i, count in enumerate(buckets):
                if count:
                    values[i].inc(count)
                    buckets[i] = 0
            self.duration._sum.inc(self._seconds)
            self._seconds = 0.0
        self.in_flight.set(in_flight)
        self.connections.set(connections)

    def render(self) -> bytes:
        """The text exposition format; with workers, the sum over every process."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


# The supervisor's side ---------------------------------------------------------------------

_restarts: Counter | None = None


def prepare_multiprocess(directory: str | None = None) -> dict[str, str]:
    """Make `directory` the metrics folder of this process and of the workers it starts.

    Without `directory`: ``PROMETHEUS_MULTIPROC_DIR`` if set, else a new temporary folder.
    Creates the folder or empties it of an earlier run's files, sets ``PROMETHEUS_MULTIPROC_DIR``
    here (so `count_worker_restart` counts into it) and returns the variables to add to each
    worker's environment. Call it before starting the workers, once.
    """
    global _restarts
    if directory is None:
        directory = os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="porch-metrics-")
    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))
    os.environ[MULTIPROC_ENV] = directory
    _use_multiprocess_values()
    from prometheus_client import CollectorRegistry, Counter

    _restarts = Counter(*_RESTARTS, registry=CollectorRegistry())
    return {MULTIPROC_ENV: directory}


def process_exited(pid: int) -> None:
    """A worker is gone: drop its live gauges (in flight, connections) from the totals."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def count_worker_restart() -> None:
    """The supervisor replaced a worker that died (after `prepare_multiprocess`)."""
    if _restarts is not None:
        _restarts.inc()
