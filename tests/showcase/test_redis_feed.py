"""The multi-worker live feed: two relays on one Redis channel stand for two workers."""

from __future__ import annotations

import asyncio

from examples.showcase.feed import Broadcaster
from examples.showcase.redis_feed import RedisRelay

from tests.redis_service import REDIS_URL, redis_prefix  # noqa: F401 - a fixture


def test_a_post_in_one_worker_reaches_the_listeners_of_another(redis_prefix):  # noqa: F811
    channel = redis_prefix + "posts"  # unique per test: runs in parallel do not cross

    async def scenario() -> None:
        one, two = Broadcaster(), Broadcaster()
        relays = [RedisRelay(one, REDIS_URL, channel), RedisRelay(two, REDIS_URL, channel)]
        for relay in relays:
            await relay.start()
        try:
            here, there = one.subscribe(), two.subscribe()
            await relays[0].publish({"id": 7, "title": "across workers"})
            async with asyncio.timeout(10):
                assert await anext(there) == {"id": 7, "title": "across workers"}
                assert await anext(here) == {"id": 7, "title": "across workers"}
            # Junk on the channel is ignored, and the relay goes on.
            await relays[0]._redis.publish(channel, b"not json")  # type: ignore[union-attr]
            await relays[1].publish({"id": 8})
            async with asyncio.timeout(10):
                assert await anext(there) == {"id": 8}
        finally:
            for relay in relays:
                await relay.close()

    asyncio.run(scenario())
