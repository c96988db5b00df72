"""The one async interface every cache back end implements, and the value encoding they share.

Values are encoded the same way in every back end (integers as decimal text so that `incr`
works on them, anything else as msgpack), so a value that the memory cache accepts is one
Redis accepts too, and a value read back is a copy: mutating it never changes the cache.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import msgspec

__all__ = ["Cache", "CacheChoice", "decode", "encode", "resolve_cache"]

_MSGPACK = b"m"
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def encode(value: Any) -> bytes:
    """Bytes for `value`: an int as its decimal text, anything else msgpack (str, bytes,
    numbers, lists, dicts, msgspec Structs...). Raises TypeError for what msgpack cannot
    carry."""
    if type(value) is int:
        return str(value).encode()
    return _MSGPACK + _encoder.encode(value)


def decode(data: bytes) -> Any:
    if data[:1] == _MSGPACK:
        return _decoder.decode(data[1:])
    return int(data)


class Cache(ABC):
    """An async key-value cache with expiry.

    Keys are strings; every key is stored under the cache's `prefix` (so that two apps, or
    two tests, can share one Redis). A `ttl` is in seconds; None means the cache's
    `default_ttl` (None: no expiry).
    """

    def __init__(self, prefix: str = "", default_ttl: float | None = None) -> None:
        self.prefix = prefix
        self.default_ttl = default_ttl

    def _ttl(self, ttl: float | None) -> float | None:
        ttl = self.default_ttl if ttl is None else ttl
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl must be positive seconds or None; got {ttl}")
        return ttl

    @abstractmethod
    async def get(self, key: str, default: Any = None) -> Any:
        """The value stored under `key`, or `default` when absent or expired."""

    @abstractmethod
    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store `value` under `key` for `ttl` seconds."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove `key`; True when it was there."""

    @abstractmethod
    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Add `amount` to the integer under `key` atomically (0 when absent) and return the
        new value. `ttl` applies when this call creates the key; an existing key keeps its
        expiry (what a fixed-window counter needs)."""

    @abstractmethod
    async def clear(self, prefix: str = "") -> int:
        """Remove every key of this cache that starts with `prefix`; the number removed."""

    async def close(self) -> None:
        """Release connections (a no-op for the memory cache)."""
        return None


CacheChoice = Cache | Callable[[], Cache] | None


def resolve_cache(choice: CacheChoice) -> Cache:
    """A decorator's `cache=` argument at call time: a Cache, a function returning one, or
    None for `porch.cache.default_cache()` (so the environment is read when first used)."""
    if isinstance(choice, Cache):
        return choice
    if choice is not None:
        return choice()
    from porch.cache import default_cache

    return default_cache()
