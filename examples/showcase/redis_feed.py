"""The live feed across several workers: new posts go through a Redis pub/sub channel.

With ``--workers N`` each process has its own `Broadcaster` and its own listeners. A
`RedisRelay` publishes every message to a Redis channel, and each worker's relay subscribes
to that channel and hands what arrives to its local broadcaster: a post written through any
worker reaches the listeners of all of them (the writer's own included, through Redis).
Set ``SHOWCASE_REDIS_URL`` (``redis://127.0.0.1:6379/0``) to turn it on.

Pub/sub delivers to the subscribers connected at that moment and keeps nothing: a worker that
is reconnecting misses messages, and its listeners catch up from the database when their
EventSource reconnects with ``Last-Event-ID``, as after any other gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import redis.asyncio as redis

from examples.showcase.feed import Broadcaster, Message

logger = logging.getLogger("showcase")

MAX_MESSAGE = 64 * 1024  # a post's announcement is a few hundred bytes; anything bigger is junk


class RedisRelay:
    """Publish to `channel`; relay the channel's messages to `local`."""

    def __init__(self, local: Broadcaster, url: str, channel: str = "showcase:posts") -> None:
        self.local = local
        self.url = url
        self.channel = channel
        self._redis: redis.Redis | None = None
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and subscribe; returns once Redis confirmed the subscription, so that no
        message published afterwards is missed."""
        self._redis = redis.Redis.from_url(self.url, socket_connect_timeout=5)
        self._pubsub = self._redis.pubsub()
        await self._pubsub.subscribe(self.channel)
        async with asyncio.timeout(10):
            while True:
                reply = await self._pubsub.get_message(timeout=1.0)
                if reply is not None and reply["type"] == "subscribe":
                    break
        self._task = asyncio.create_task(self._relay(), name="showcase-redis-relay")

    async def _relay(self) -> None:
        backoff = 1.0
        while True:
            try:
                async for item in self._pubsub.listen():
                    backoff = 1.0
                    self._deliver(item)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                # redis-py subscribes again when it reconnects, on the next listen().
                logger.warning("live feed: lost Redis (%s); retrying in %.0f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    def _deliver(self, item: dict[str, Any]) -> None:
        if item["type"] != "message" or len(item["data"]) > MAX_MESSAGE:
            return
        try:
            message = json.loads(item["data"])
        except ValueError:
            logger.warning("live feed: ignored a message on %s that is not JSON", self.channel)
            return
        if isinstance(message, dict):
            self.local.publish(message)

    async def publish(self, message: Message) -> None:
        if self._redis is None:
            raise RuntimeError("RedisRelay.publish before start(): add start to on_startup")
        await self._redis.publish(self.channel, json.dumps(message))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
