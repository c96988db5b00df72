"""The Redis back end (redis.asyncio): one cache shared by every worker and machine.

A Redis client belongs to the event loop that made it, and porch may run one app on several
loops in one process (the test client's loop, a live server's thread). So the cache keeps
one client per running loop, made on first use there.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import redis.asyncio as aioredis

from porch.cache.base import Cache, decode, encode

__all__ = ["RedisCache", "redis_url"]

# INCRBY, then an expiry only when the key has none (it was just made): atomic in Redis, and
# it runs on every Redis version (PEXPIRE's NX option needs 7.0).
_INCR = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '0' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
"""
_GLOB = re.compile(r"([*?\[\]\\])")


def redis_url(environ: dict[str, str] | None = None) -> str | None:
    """``PORCH_REDIS_URL`` from the environment, or None."""
    import os

    env = os.environ if environ is None else environ
    return env.get("PORCH_REDIS_URL") or None


class RedisCache(Cache):
    """``RedisCache("redis://127.0.0.1:6379/0", prefix="myapp:")``."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        prefix: str = "",
        default_ttl: float | None = None,
        *,
        socket_timeout: float = 5.0,
        max_connections: int = 100,
    ) -> None:
        super().__init__(prefix, default_ttl)
        self.url = url
        self._options: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_timeout,
            "max_connections": max_connections,
        }
        self._clients: dict[asyncio.AbstractEventLoop, aioredis.Redis] = {}

    def client(self) -> aioredis.Redis:
        """The client of the running event loop."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for old in [old for old in self._clients if old.is_closed()]:
                del self._clients[old]
            client = self._clients[loop] = aioredis.Redis.from_url(self.url, **self._options)
        return client

    def _ms(self, ttl: float | None) -> int | None:
        ttl = self._ttl(ttl)
        return None if ttl is None else max(1, int(ttl * 1000))

    async def get(self, key: str, default: Any = None) -> Any:
        data = await self.client().get(self.prefix + key)
        if data is None:
            return default
        return decode(data.encode() if isinstance(data, str) else data)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        await self.client().set(self.prefix + key, encode(value), px=self._ms(ttl))

    async def delete(self, key: str) -> bool:
        return bool(await self.client().delete(self.prefix + key))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        result = await self.client().eval(_INCR, 1, self.prefix + key, amount, self._ms(ttl) or 0)
        return int(result)

    async def clear(self, prefix: str = "") -> int:
        client = self.client()
        pattern = _GLOB.sub(r"\\\1", self.prefix + prefix) + "*"
        removed = 0
        batch: list[bytes] = []
        async for key in client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                removed += await client.unlink(*batch)
                batch = []
        if batch:
            removed += await client.unlink(*batch)
        return removed

    async def close(self) -> None:
        """Close the client of the running loop (others close with their loops)."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()
