"""Flow control for one connection: why reading is paused, and waiting for the socket to drain."""

from __future__ import annotations

import asyncio
import os

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

    __slots__ = ("_transport", "_reasons", "write_paused", "_drain_waiter", "lost", "_dup")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._reasons = 0
        self.write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self.lost = False
        self._dup: int | None = None  # a duplicate of the socket's fd, to poll it ourselves

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

    async def drain_all(self) -> None:
        """Return once everything written so far has left the transport's buffer."""
        transport = self._transport
        if not transport.get_write_buffer_size():
            return
        transport.set_write_buffer_limits(high=0)  # pause now, resume once empty
        try:
            await self.drain()
        finally:
            if not self.lost:
                transport.set_write_buffer_limits()

    async def writable(self, fd: int) -> None:
        """Wait until the socket `fd` can take more data (for writes that bypass the transport,
        like sendfile). The transport owns `fd` in the event loop, so a duplicate is polled."""
        if self.lost:
            raise ClientDisconnected("client disconnected")
        if self._dup is None:
            self._dup = os.dup(fd)
        loop = asyncio.get_running_loop()
        waiter = self._drain_waiter = loop.create_future()
        self.write_paused = True
        loop.add_writer(self._dup, _wake, waiter)
        try:
            await waiter
        finally:
            loop.remove_writer(self._dup)
            self.write_paused = False
            self._drain_waiter = None

    def release(self) -> None:
        """Close the duplicated fd, if any."""
        if self._dup is not None:
            os.close(self._dup)
            self._dup = None

    def connection_lost(self) -> None:
        self.lost = True
        self.write_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_exception(ClientDisconnected("client disconnected"))


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
