"""The `cache` suite's app: one endpoint doing real work, uncached and cached two ways.

``/cache/work`` computes a JSON list (the primes below 20 000, with sums: about a millisecond
of Python) on every request; ``/cache/memory`` and ``/cache/redis`` answer the same through
``@cache_response`` with porch's in-process cache and with Redis (``PORCH_REDIS_URL``, else
127.0.0.1:6379). The suite compares the three paths on one server.
"""

import os

from porch import App
from porch.cache import MemoryCache, RedisCache, cache_response

# A benchmark app, not a deployment: the key only lets porch.App start in production mode.
app = App(secret_key="bench-only-key-never-use-this-in-production")
memory = MemoryCache(prefix="bench:")
redis = RedisCache(os.environ.get("PORCH_REDIS_URL", "redis://127.0.0.1:6379/0"), "bench:")
app.on_startup(redis.clear)  # every start measures its own misses then hits
app.on_shutdown(redis.close)


def work() -> dict[str, object]:
    limit = 20_000
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\x00\x00"
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, limit, i)))
    primes = [i for i in range(limit) if sieve[i]]
    return {"count": len(primes), "sum": sum(primes), "last": primes[-10:]}


@app.get("/cache/work")
async def uncached() -> dict[str, object]:
    return work()


@app.get("/cache/memory")
@cache_response(ttl=3600, cache=memory)
async def cached_in_memory() -> dict[str, object]:
    return work()


@app.get("/cache/redis")
@cache_response(ttl=3600, cache=redis)
async def cached_in_redis() -> dict[str, object]:
    return work()
