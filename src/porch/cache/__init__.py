"""porch.cache: one async cache interface, an in-process back end and a Redis back end.

``cache = porch.cache.from_url("redis://127.0.0.1:6379/0", prefix="myapp:")`` or
``porch.cache.default_cache()`` (from ``PORCH_CACHE_URL``, else ``PORCH_REDIS_URL``, else
in-process memory). `@cached` memoizes functions; `@cache_response` caches handlers'
responses; `ETag` adds validators and 304s.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

from porch.cache.base import Cache
from porch.cache.decorators import cached
from porch.cache.memory import MemoryCache
from porch.cache.redis import RedisCache
from porch.cache.responses import ETag, cache_response, etag_matches, etag_response

__all__ = [
    "Cache",
    "MemoryCache",
    "RedisCache",
    "from_url",
    "default_cache",
    "set_default_cache",
    "cached",
    "cache_response",
    "ETag",
    "etag_response",
    "etag_matches",
]

_default: Cache | None = None


def from_url(url: str, prefix: str = "", default_ttl: float | None = None) -> Cache:
    """A cache for `url`: ``memory://`` (``?max_entries=N&max_bytes=N``) or
    ``redis://`` / ``rediss://`` / ``unix://`` (a Redis URL as redis-py reads it)."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        options = {k: int(v[-1]) for k, v in parse_qs(urlsplit(url).query).items()}
        unknown = set(options) - {"max_entries", "max_bytes"}
        if unknown:
            raise ValueError(f"memory:// options are max_entries and max_bytes, not {unknown}")
        return MemoryCache(prefix, default_ttl, **options)
    if scheme in ("redis", "rediss", "unix"):
        return RedisCache(url, prefix, default_ttl)
    raise ValueError(f"cache URL {url!r}: the scheme must be memory://, redis:// or rediss://")


def default_cache() -> Cache:
    """The process's default cache, made on first use from ``PORCH_CACHE_URL`` or
    ``PORCH_REDIS_URL`` (in-process memory when neither is set)."""
    global _default
    if _default is None:
        url = os.environ.get("PORCH_CACHE_URL") or os.environ.get("PORCH_REDIS_URL")
        _default = from_url(url, "porch:") if url else MemoryCache("porch:")
    return _default


def set_default_cache(cache: Cache | None) -> None:
    """Replace the default cache (None: choose again from the environment on next use)."""
    global _default
    _default = cache
