"""The live feed's broadcaster: new posts go to every open live page, in this process.

`Broadcaster` knows nothing of the transport: `subscribe()` is an async iterator of plain
dicts, which the live blueprint sends as Server-Sent Events today and a WebSocket handler
could send as JSON frames tomorrow (``async for message in feed.subscribe(): await
ws.send_json(message)``) without touching the publishers.

Bounded: at most `max_subscribers` listeners (more get `TooManySubscribers`, a 503), and
each one's queue holds `queue_size` messages; a listener that falls that far behind is
dropped (its stream ends; the browser's EventSource reconnects and catches up from the
database with ``Last-Event-ID``) rather than let memory grow.

One process only: with several workers (``--workers 4``) each has its own broadcaster, and
a post made in one worker reaches only that worker's listeners. The multi-worker version
publishes to Redis pub/sub and has each worker relay its channel to its local listeners
(redis_feed.py, on with ``SHOWCASE_REDIS_URL``; docs/showcase.md).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

Message = dict[str, Any]


class TooManySubscribers(RuntimeError):
    """The broadcaster has `max_subscribers` listeners already."""


class _Closed:
    """Put in a queue to end that subscriber's stream (it fell behind)."""


_CLOSED = _Closed()


class Broadcaster:
    """In-process publish/subscribe for the event loop's thread (publish from handlers)."""

    def __init__(self, *, max_subscribers: int = 1000, queue_size: int = 100) -> None:
        if max_subscribers < 1 or queue_size < 1:
            raise ValueError("Broadcaster: max_subscribers and queue_size must be >= 1")
        self.max_subscribers = max_subscribers
        self.queue_size = queue_size
        self._queues: set[asyncio.Queue[Message | _Closed]] = set()

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    def publish(self, message: Message) -> int:
        """Queue `message` for every listener; returns how many got it."""
        delivered = 0
        for queue in list(self._queues):
            if queue.qsize() >= self.queue_size:
                self._queues.discard(queue)  # too slow: end its stream, free its memory
                queue.put_nowait(_CLOSED)
                continue
            queue.put_nowait(message)
            delivered += 1
        return delivered

    def subscribe(self) -> Subscription:
        """A listener of the messages published from now on: registered at once (so that
        nothing published after this call is missed), removed when it is closed."""
        if len(self._queues) >= self.max_subscribers:
            raise TooManySubscribers(
                f"the live feed has {self.max_subscribers} listeners already; try again later"
            )
        # One slot more than queue_size for the _CLOSED marker.
        queue: asyncio.Queue[Message | _Closed] = asyncio.Queue(self.queue_size + 1)
        self._queues.add(queue)
        return Subscription(self, queue)


class Subscription:
    """``async for message in subscription``; ``await subscription.aclose()`` (or the end of
    the stream that iterates it) unregisters it."""

    def __init__(self, broadcaster: Broadcaster, queue: asyncio.Queue[Message | _Closed]) -> None:
        self._broadcaster = broadcaster
        self._queue = queue

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        message = await self._queue.get()
        if isinstance(message, _Closed):
            await self.aclose()
            raise StopAsyncIteration
        return message

    async def aclose(self) -> None:
        self._broadcaster._queues.discard(self._queue)


class Publisher(Protocol):
    async def publish(self, message: Message) -> None: ...


feed = Broadcaster()
_through: Publisher | None = None


def publish_through(publisher: Publisher | None) -> None:
    """Send announcements through `publisher` (a redis_feed.RedisRelay, which hands them to
    every worker's broadcaster) instead of straight to this process's `feed`."""
    global _through
    _through = publisher


async def announce(message: Message) -> None:
    """Tell every live listener about `message` (what the handlers call)."""
    if _through is not None:
        await _through.publish(message)
    else:
        feed.publish(message)
