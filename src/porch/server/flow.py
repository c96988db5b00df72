"""Flow control for one connection: why reading is paused, and waiting for the socket to drain."""

from __future__ import annotations

import asyncio

from porch.errors import ClientDisconnected

__all__ = ["FlowControl"]


class FlowControl:
    """Reading pauses while any reason holds and resumes when none is left.

    Reasons are bits: the app has not consumed the request body (`BODY`), too many pipelined
    requests wait (`QUEUE`), the peer is not reading our output (`WRITE`), or the connection
    will answer no more requests (`DONE`). Writers await `drain()` while the transport's buffer
    is above its high-water mark.
    """

    BODY = 1
    QUEUE = 2
    WRITE = 4
    DONE = 8

    __slots__ = ("_transport", "_reasons", "write_paused", "_drain_waiter", "lost")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._reasons = 0
        self.write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self.lost = False

    @property
    def read_paused(self) -> bool:
        return self._reasons != 0

    def pause(self, reason: int) -> None:
        if not self._reasons and not self.lost:
            self._transport.pause_reading()
        self._reasons |= reason

    def resume(self, reason: int) -> None:
        if not self._reasons & reason:
            return
        self._reasons &= ~reason
        if not self._reasons and not self.lost:
            self._transport.resume_reading()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.pause(self.WRITE)

    def resume_writing(self) -> None:
        self.write_paused = False
        self.resume(self.WRITE)
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        """Return once the transport accepts more data; raise if the client is gone."""
        if self.lost:
            raise ClientDisconnected("client disconnected")
        if not self.write_paused:
            return
        waiter = self._drain_waiter
        if waiter is None:
            waiter = self._drain_waiter = asyncio.get_running_loop().create_future()
        await waiter

    def connection_lost(self) -> None:
        self.lost = True
        self.write_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_exception(ClientDisconnected("client disconnected"))
