"""The cache interface on both back ends (in-process memory and a real Redis): the same
tests, parametrized, so the two cannot drift apart."""

from __future__ import annotations

import asyncio
import time

import pytest

from porch.cache import Cache, MemoryCache, RedisCache, cached, from_url
from tests.redis_service import REDIS_URL


@pytest.fixture(params=["memory", "redis"])
def backend(request) -> str:
    return request.param


def make(backend: str, prefix: str) -> Cache:
    if backend == "memory":
        return MemoryCache(prefix)
    return RedisCache(REDIS_URL, prefix)


@pytest.fixture
def prefix(backend, request) -> str:
    if backend == "redis":
        return request.getfixturevalue("redis_prefix")
    return "test:"


async def eventually_gone(cache: Cache, key: str, within: float = 3.0) -> float:
    """Wait for `key` to expire (the event), failing after `within` seconds."""
    start = time.monotonic()
    while await cache.get(key) is not None:
        assert time.monotonic() - start < within, f"{key} did not expire"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def run(coro_fn, backend: str, prefix: str) -> None:
    async def main() -> None:
        cache = make(backend, prefix)
        try:
            await coro_fn(cache)
        finally:
            await cache.close()

    asyncio.run(main())


def test_get_set_delete_hit_and_miss(backend, prefix):
    async def body(cache: Cache) -> None:
        assert await cache.get("a") is None
        assert await cache.get("a", "default") == "default"
        await cache.set("a", {"list": [1, 2], "text": "é", "bytes": b"\x00\xff"})
        assert await cache.get("a") == {"list": [1, 2], "text": "é", "bytes": b"\x00\xff"}
        value = await cache.get("a")
        value["list"].append(3)  # a copy: the cache is not changed
        assert (await cache.get("a"))["list"] == [1, 2]
        assert await cache.delete("a") is True
        assert await cache.delete("a") is False
        assert await cache.get("a") is None

    run(body, backend, prefix)


def test_expiry(backend, prefix):
    async def body(cache: Cache) -> None:
        await cache.set("short", "v", ttl=0.1)
        await cache.set("long", "v", ttl=60)
        assert await cache.get("short") == "v"
        assert await eventually_gone(cache, "short") >= 0.05
        assert await cache.get("long") == "v"

    run(body, backend, prefix)


def test_incr_is_a_counter_with_a_window(backend, prefix):
    async def body(cache: Cache) -> None:
        assert await cache.incr("n") == 1
        assert await cache.incr("n", 5) == 6
        assert await cache.get("n") == 6
        await cache.set("m", 10)
        assert await cache.incr("m", -3) == 7
        assert await cache.incr("w", ttl=0.1) == 1
        assert await cache.incr("w", ttl=60) == 2  # an existing key keeps its expiry
        await eventually_gone(cache, "w")
        assert await cache.incr("w") == 1

    run(body, backend, prefix)


def test_clear_by_prefix_is_invalidation(backend, prefix):
    async def body(cache: Cache) -> None:
        for key in ("user:1", "user:2", "post:1"):
            await cache.set(key, key)
        assert await cache.clear("user:") == 2
        assert await cache.get("user:1") is None
        assert await cache.get("post:1") == "post:1"
        assert await cache.clear() == 1

    run(body, backend, prefix)


def test_prefixes_separate_two_caches(backend, prefix):
    async def body(cache: Cache) -> None:
        other = make(backend, prefix + "other:") if backend == "redis" else MemoryCache("o:")
        await cache.set("k", "mine")
        assert await other.get("k") is None
        await other.close()

    run(body, backend, prefix)


def test_cached_function_hit_miss_expiry_and_invalidate(backend, prefix):
    calls: list[int] = []

    async def body(cache: Cache) -> None:
        @cached(ttl=0.2, cache=cache)
        async def square(x: int) -> int | None:
            calls.append(x)
            return x * x if x else None

        assert await square(3) == 9
        assert await square(3) == 9
        assert calls == [3]
        assert await square(0) is None
        assert await square(0) is None  # a cached None is a hit
        assert calls == [3, 0]
        assert await square.invalidate(3) is True
        assert await square(3) == 9
        assert calls == [3, 0, 3]
        await eventually_gone(cache, next(iter(await _keys(cache))))

    run(body, backend, prefix)


async def _keys(cache: Cache) -> list[str]:
    if isinstance(cache, MemoryCache):
        return [k.removeprefix(cache.prefix) for k in cache._data]
    client = cache.client()  # type: ignore[attr-defined]
    return [
        k.decode().removeprefix(cache.prefix) async for k in client.scan_iter(cache.prefix + "*")
    ]


def test_cached_key_function_and_sync_functions():
    cache = MemoryCache()
    calls: list[str] = []

    @cached(ttl=60, cache=cache, key=lambda name, **_: name.lower())
    def greet(name: str, punctuation: str = "!") -> str:
        calls.append(name)
        return f"hello {name}{punctuation}"

    assert greet("Ann") == "hello Ann!"
    assert greet("ANN") == "hello Ann!"  # same key
    assert calls == ["Ann"]
    assert greet.invalidate_sync("ann") is True
    greet("ann")
    assert calls == ["Ann", "ann"]

    @cached(ttl=60, cache=RedisCache(REDIS_URL))
    def cannot(x: int) -> int:
        return x

    with pytest.raises(TypeError, match="needs a MemoryCache"):
        cannot(1)


def test_memory_cache_is_bounded_lru():
    async def body() -> None:
        cache = MemoryCache(max_entries=3, max_bytes=10_000)
        for key in "abc":
            await cache.set(key, key)
        await cache.get("a")  # a is now the most recent
        await cache.set("d", "d")
        assert await cache.get("b") is None
        assert [await cache.get(k) for k in "acd"] == ["a", "c", "d"]
        small = MemoryCache(max_bytes=100)
        await small.set("x", "x" * 60)
        await small.set("y", "y" * 60)
        assert await small.get("x") is None and small.size_bytes <= 100
        with pytest.raises(ValueError, match="cannot fit"):
            await small.set("z", "z" * 200)

    asyncio.run(body())


def test_from_url():
    assert isinstance(from_url("memory://?max_entries=5"), MemoryCache)
    assert from_url("memory://?max_entries=5").max_entries == 5  # type: ignore[attr-defined]
    assert isinstance(from_url("redis://127.0.0.1:6379/0"), RedisCache)
    with pytest.raises(ValueError, match="memory://, redis://"):
        from_url("memcached://x")


def test_values_must_be_encodable():
    with pytest.raises(TypeError):
        asyncio.run(MemoryCache().set("k", object()))
