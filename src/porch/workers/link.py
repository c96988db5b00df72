"""The worker's end of the line to its supervisor.

A worker is a plain ``porch serve`` process started by the supervisor with a pipe's write end
named in ``_PORCH_WORKER_LINK``. The server finds it with `WorkerLink.from_environ` and writes
one byte per event: ``r`` once it listens, ``h`` on every tick of its event loop (about once a
second, so a loop blocked by the app stops the heartbeat), and ``m`` once it has answered
``--max-requests`` requests (the supervisor then starts its replacement and stops it).
SIGUSR1 dumps every thread's stack to stderr, for the supervisor to use on a stuck worker.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
from collections.abc import Callable

__all__ = ["BEAT", "LINK_ENV", "READY", "RETIRE", "WorkerLink"]

LINK_ENV = "_PORCH_WORKER_LINK"
READY, BEAT, RETIRE = b"r", b"h", b"m"

logger = logging.getLogger("porch.error")


class WorkerLink:
    """Report readiness, heartbeats and the request count to the supervisor."""

    def __init__(self, fd: int, stop: Callable[[], None], max_requests: int) -> None:
        self.fd = fd
        self.stop = stop
        self.max_requests = max_requests
        self.retiring = False
        self.closed = False

    @classmethod
    def from_environ(cls, stop: Callable[[], None], max_requests: int) -> WorkerLink | None:
        """The link when this process is a supervised worker, else None. The variable is
        removed, so that processes the app starts do not mistake themselves for workers."""
        raw = os.environ.pop(LINK_ENV, None)
        if raw is None:
            return None
        fd = int(raw)
        os.set_inheritable(fd, False)
        os.set_blocking(fd, False)  # a slow supervisor must never block the event loop
        if hasattr(signal, "SIGUSR1"):
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        return cls(fd, stop, max_requests)

    def ready(self) -> None:
        self._send(READY)

    def tick(self, requests: int) -> None:
        """Called on each tick of the event loop with the number of requests answered."""
        if self.max_requests and requests >= self.max_requests and not self.retiring:
            if self._send(RETIRE):
                self.retiring = True
                logger.info("Answered %d requests (--max-requests): to be replaced", requests)
        else:
            self._send(BEAT)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)

    def _send(self, message: bytes) -> bool:
        if self.closed:
            return False
        try:
            os.write(self.fd, message)
        except BlockingIOError:
            return False  # the pipe is full: the supervisor reads later; a lost beat is harmless
        except OSError:
            logger.warning("The supervisor is gone: stopping")
            self.close()
            self.stop()
            return False
        return True
