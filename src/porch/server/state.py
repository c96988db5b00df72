"""What every connection of one server shares: the app, the settings, a coarse clock."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from porch.config import Config
from porch.http.writer import http_date
from porch.request import Request
from porch.response import Response
from porch.server.accesslog import AccessLog

if TYPE_CHECKING:
    from porch.server.observe import Observer
    from porch.server.protocol import HTTPProtocol

__all__ = ["App", "ServerState"]

App = Callable[[Request], Coroutine[Any, Any, Response]]
logger = logging.getLogger("porch.error")


class ServerState:
    """Server-wide state, passed explicitly to each connection.

    `now` is a clock that `tick()` advances once a second; connections stamp their deadlines
    with it, so no connection needs a timer of its own. `preamble` holds the pre-encoded Date
    and Server lines, renewed on each tick.
    """

    def __init__(self, app: App, config: Config, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.config = config
        self.limits = config.limits
        self.loop = loop
        # HTTP connections, and the WebSocket ones they were handed to (same tick/shutdown).
        self.connections: set[HTTPProtocol] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.draining = False
        self.requests = 0  # answered so far: a worker supervisor recycles on it
        self.all_closed = asyncio.Event()  # set when draining and the last connection is gone
        self.access_log_format = AccessLog(config.access_log_format)
        # The plain protocol's access log (no times); None when off, or when the observed
        # protocol (porch.server.observe) writes the lines instead.
        self.access_log: Callable[[Request, int, int, float], None] | None = (
            self.access_log_format.log if config.access_log else None
        )
        self.observer: Observer | None = None
        self.server_line = b"server: porch\r\n" if config.server_header else b""
        self.trusted_proxies = config.trusted_proxies
        self.now = loop.time()
        self.preamble = b""
        self._update_clock()

    def _update_clock(self) -> None:
        self.now = self.loop.time()
        self.preamble = b"date: " + http_date(time.time()) + b"\r\n" + self.server_line

    def trusts(self, peer: tuple[str, int] | None) -> bool:
        """Is this peer one of --forwarded-allow-ips? A UNIX socket peer only with ``*``."""
        if peer is None:
            return self.trusted_proxies.everyone
        return peer[0] in self.trusted_proxies

    def tick(self) -> None:
        """Advance the clock, renew the Date line, and enforce every connection's timeouts."""
        self._update_clock()
        now = self.now
        for conn in list(self.connections):
            conn.on_tick(now)
        if self.observer is not None and self.observer.shared:
            self.observer.publish()

    def forget(self, conn: HTTPProtocol) -> None:
        """A connection closed."""
        self.connections.discard(conn)
        if self.draining and not self.connections:
            self.all_closed.set()

    def track(self, task: asyncio.Task[None]) -> None:
        """Keep a strong reference to a connection's task until it ends."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
