"""Helpers for the tests that host real Flask, Django, FastAPI and Starlette apps on porch.

`porch_serve` runs ``porch serve`` as a subprocess (what users run) and stops it with SIGTERM,
checking it exits cleanly; `serve_asgi` runs an ASGI app on the real server in-process;
`wait_until` polls a condition with a deadline (never a fixed sleep).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from porch.interfaces import adapt
from porch.web.testing import LiveServer, live_server
from tests.server.test_lifecycle import DEADLINE, PorchProcess

__all__ = ["DEADLINE", "PorchProcess", "Served", "porch_serve", "serve_asgi", "wait_until"]


class Served:
    """A running ``porch serve``: its `process` (for the log), `port` and `url`."""

    def __init__(self, process: PorchProcess, port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


@contextmanager
def porch_serve(app: str, *args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """``porch serve APP --port 0 ARGS``; yields once it listens; SIGTERM and a clean exit
    (code 0) when the block ends."""
    with PorchProcess("serve", app, "--port", "0", *args, env=env) as process:
        yield Served(process, process.port())
        process.signal(signal.SIGTERM)
        assert process.finish() == 0, process.transcript()


@contextmanager
def serve_asgi(app: Any, **adapt_options: Any) -> Iterator[LiveServer]:
    """Serve an ASGI app in-process with the real porch server: ``adapt(app, **options)``
    (``root_path``, ``lifespan``, ...) on a free port until the block ends."""
    with live_server(adapt(app, **adapt_options)) as server:
        yield server


def wait_until(condition: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    """Poll `condition` until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.01)
