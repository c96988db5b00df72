"""Helpers for the supervisor tests: an app module written per test, a supervised porch
subprocess, and clients that keep requests flowing while a test signals the supervisor.

Nothing here sleeps to synchronise: tests wait for log lines (with a deadline), for
responses, or for a condition polled against a deadline.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import read_response
from tests.server.test_lifecycle import PorchProcess

DEADLINE = 15.0
SUPERVISOR = r"porch supervisor \(pid (\d+)\) listening on https?://127\.0\.0\.1:(\d+) "
READY = r"Worker (\d+) ready"

APP_SOURCE = """\
import asyncio
import os
import sys
import time

from porch import Request, Response

VERSION = {version!r}


def block_the_event_loop() -> None:
    time.sleep(60)  # what a stuck worker looks like: the event loop never runs again


async def app(request: Request) -> Response:
    if request.path == "/slow":
        print("SLOW-STARTED", file=sys.stderr, flush=True)
        await asyncio.sleep(float(request.query.get("delay") or 1.0))
        return Response(b"slow done", media_type="text/plain")
    if request.path == "/block":
        block_the_event_loop()
    if request.path == "/exit":
        os._exit(3)
    return Response(f"{{os.getpid()}} {{VERSION}}".encode(), media_type="text/plain")
"""


def write_app(folder: Path, version: str = "v1", name: str = "wapp.py") -> None:
    (folder / name).write_text(APP_SOURCE.format(version=version))


class Supervised(PorchProcess):
    """``porch serve wapp:app --app-dir DIR --port 0 ...`` with a supervisor."""

    def __init__(self, app_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__(
            "serve",
            "wapp:app",
            "--app-dir",
            str(app_dir),
            "--port",
            "0",
            "--no-access-log",
            *args,
            env={"PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
        )
        match = self.line(SUPERVISOR)
        self.pid, self.http_port = int(match.group(1)), int(match.group(2))

    # Lines are searched in the whole of stderr so far, never consumed: events of several
    # workers interleave, and a test names the ones it needs in any order.

    def mark(self) -> int:
        """A position in stderr: `line` and `ready` after it see only later lines."""
        return len(self.lines["stderr"])

    def matches(self, pattern: str, since: int = 0) -> list[re.Match[str]]:
        found = (re.search(pattern, line) for line in list(self.lines["stderr"])[since:])
        return [m for m in found if m]

    def line(self, pattern: str, since: int = 0, count: int = 1) -> re.Match[str]:
        """Wait for `count` lines matching `pattern` after `since`; the last of them."""

        def seen() -> bool:
            return len(self.matches(pattern, since)) >= count or self.proc.poll() is not None

        wait_until(seen, f"{count} line(s) match {pattern!r}\n{self.transcript()}")
        found = self.matches(pattern, since)
        if len(found) < count:
            pytest.fail(f"porch exited before {pattern!r}\n{self.transcript()}")
        return found[count - 1]

    def ready(self, count: int, since: int = 0) -> list[int]:
        """The pids of the first `count` workers ready after `since` (waiting for them)."""
        self.line(READY, since, count)
        return [int(m.group(1)) for m in self.matches(READY, since)[:count]]

    def get(self, target: str = "/") -> tuple[int, bytes]:
        status, _, body = fresh_get(self.http_port, target)
        return status, body


def fresh_get(
    port: int, target: str, timeout: float = DEADLINE
) -> tuple[int, dict[str, str], bytes]:
    """One GET on a new connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        return read_response(sock, timeout)


@dataclass
class Outcome:
    started: float
    ok: bool
    detail: str  # the body ("PID VERSION") or the error


@dataclass
class Load:
    """Requests in a loop until stopped: each outcome is kept, with its start time."""

    port: int
    keep_alive: bool
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        if self.keep_alive:
            with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=DEADLINE) as c:
                self._loop(lambda: _httpx_get(c))
        else:
            self._loop(lambda: fresh_get(self.port, "/")[::2])

    def _loop(self, request: Callable[[], tuple[int, bytes]]) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                status, body = request()
            except (OSError, httpx.HTTPError, AssertionError) as exc:
                self.outcomes.append(Outcome(started, False, repr(exc)))
                continue
            self.outcomes.append(Outcome(started, status == 200, body.decode(errors="replace")))

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def pids(self) -> set[int]:
        return {int(o.detail.split()[0]) for o in self.outcomes if o.ok}

    def bodies_since(self, index: int) -> list[str]:
        return [o.detail for o in self.outcomes[index:] if o.ok]


def _httpx_get(client: httpx.Client) -> tuple[int, bytes]:
    response = client.get("/")
    return response.status_code, response.content


@contextlib.contextmanager
def load(port: int, *, keep_alive: bool = True, fresh: bool = True) -> Iterator[list[Load]]:
    """Client threads requesting ``/`` continuously: one on a keep-alive connection, one
    opening a new connection per request. Stopped and joined on exit."""
    loads = [Load(port, kind) for kind, wanted in ((True, keep_alive), (False, fresh)) if wanted]
    threads = [threading.Thread(target=one.run, daemon=True) for one in loads]
    for thread in threads:
        thread.start()
    try:
        yield loads
    finally:
        for one in loads:
            one.stop.set()
        for thread in threads:
            thread.join(DEADLINE)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.01)  # a poll interval, not a synchronisation: the condition decides
