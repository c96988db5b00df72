"""The in-process cache: LRU with per-key expiry, bounded in entries and in bytes.

The default back end (one process, nothing to set up). Every operation finishes without
awaiting, so `incr` is atomic within a process; with several workers or machines each has
its own counts: use Redis for state that must be shared. A lock guards each operation, as
`@cached` plain functions call the sync methods from the handler threads.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from porch.cache.base import Cache, decode, encode

__all__ = ["MemoryCache"]


class MemoryCache(Cache):
    """``MemoryCache(max_entries=10_000, max_bytes=64 MiB)``: the least recently used keys are
    dropped past either bound; an expired key is dropped when next read (or evicted)."""

    def __init__(
        self,
        prefix: str = "",
        default_ttl: float | None = None,
        *,
        max_entries: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        super().__init__(prefix, default_ttl)
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    @property
    def size_bytes(self) -> int:
        """The bytes held by values (keys not counted)."""
        return self._bytes

    # sync core: also what @cached uses for plain functions ----------------------------------

    def get_sync(self, key: str, default: Any = None) -> Any:
        full = self.prefix + key
        with self._lock:
            item = self._data.get(full)
            if item is None:
                return default
            data, expires = item
            if expires is not None and expires <= time.monotonic():
                self._remove(full)
                return default
            self._data.move_to_end(full)
        return decode(data)

    def set_sync(self, key: str, value: Any, ttl: float | None = None) -> None:
        data, ttl = encode(value), self._ttl(ttl)
        with self._lock:
            self._store(self.prefix + key, data, ttl)

    def _store(self, full: str, data: bytes, ttl: float | None) -> None:
        if len(data) > self.max_bytes:
            raise ValueError(
                f"a {len(data)}-byte value cannot fit a cache of max_bytes={self.max_bytes}"
            )
        if full in self._data:
            self._remove(full)
        expires = None if ttl is None else time.monotonic() + ttl
        self._data[full] = (data, expires)
        self._bytes += len(data)
        while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
            oldest = next(iter(self._data))
            self._remove(oldest)

    def _remove(self, full: str) -> None:
        data, _ = self._data.pop(full)
        self._bytes -= len(data)

    # the async interface ---------------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        return self.get_sync(key, default)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        self.set_sync(key, value, ttl)

    async def delete(self, key: str) -> bool:
        return self.delete_sync(key)

    def delete_sync(self, key: str) -> bool:
        full = self.prefix + key
        with self._lock:
            if full not in self._data:
                return False
            _, expires = self._data[full]
            self._remove(full)
        return expires is None or expires > time.monotonic()

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        full = self.prefix + key
        with self._lock:
            item = self._data.get(full)
            now = time.monotonic()
            if item is None or (item[1] is not None and item[1] <= now):
                value, remaining = amount, self._ttl(ttl)
            else:
                current = decode(item[0])
                if type(current) is not int:
                    kind = type(current).__name__
                    raise TypeError(f"cache key {key!r} holds a {kind}, not an int")
                value = current + amount
                remaining = None if item[1] is None else item[1] - now
            self._store(full, encode(value), remaining)
        return value

    async def clear(self, prefix: str = "") -> int:
        start = self.prefix + prefix
        with self._lock:
            doomed = [key for key in self._data if key.startswith(start)]
            for key in doomed:
                self._remove(key)
        return len(doomed)
