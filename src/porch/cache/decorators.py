"""`@cached`: memoize a function's results in a cache, keyed by its arguments."""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from porch.cache.base import Cache, CacheChoice, resolve_cache
from porch.cache.memory import MemoryCache

__all__ = ["cached"]

F = TypeVar("F", bound=Callable[..., Any])


def _default_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    # repr is stable for the values people pass (numbers, strings, tuples); hashed so that
    # long arguments make short keys.
    text = repr((args, sorted(kwargs.items())))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def cached(
    ttl: float | None = None,
    *,
    key: Callable[..., str] | None = None,
    cache: CacheChoice = None,
    name: str | None = None,
) -> Callable[[F], F]:
    """Cache what the decorated function returns for `ttl` seconds.

    ``@cached(ttl=60)`` on ``async def`` or plain ``def``; the key is the function's
    qualified `name` and its arguments (`key(*args, **kwargs) -> str` to choose it). Values
    must be what the cache can encode (msgpack: str, numbers, bytes, lists, dicts...).
    `cache` is a `Cache` (default: `porch.cache.default_cache()`, chosen when first called);
    a plain ``def`` needs a `MemoryCache` (it cannot await Redis). The wrapper gains
    ``await f.invalidate(*args, **kwargs)`` (``f.invalidate_sync`` for a plain def).
    """

    def decorate(func: F) -> F:
        label = name or f"{func.__module__}.{func.__qualname__}"

        def full_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
            part = key(*args, **kwargs) if key is not None else _default_key(args, kwargs)
            return f"fn:{label}:{part}"

        def backend() -> Cache:
            return resolve_cache(cache)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def call(*args: Any, **kwargs: Any) -> Any:
                store, k = backend(), full_key(args, kwargs)
                hit = await store.get(k)
                if hit is not None:
                    return hit[0]
                value = await func(*args, **kwargs)
                await store.set(k, [value], ttl)  # boxed: a cached None is a hit too
                return value

            async def invalidate(*args: Any, **kwargs: Any) -> bool:
                return await backend().delete(full_key(args, kwargs))

            call.invalidate = invalidate  # type: ignore[attr-defined]
            return cast(F, call)

        def memory() -> MemoryCache:
            store = backend()
            if not isinstance(store, MemoryCache):
                raise TypeError(
                    f"@cached on the plain function {label} needs a MemoryCache; "
                    f"make it async to use {type(store).__name__}"
                )
            return store

        @functools.wraps(func)
        def call_sync(*args: Any, **kwargs: Any) -> Any:
            store, k = memory(), full_key(args, kwargs)
            hit = store.get_sync(k)
            if hit is not None:
                return hit[0]
            value = func(*args, **kwargs)
            store.set_sync(k, [value], ttl)
            return value

        def invalidate_sync(*args: Any, **kwargs: Any) -> bool:
            return memory().delete_sync(full_key(args, kwargs))

        call_sync.invalidate_sync = invalidate_sync  # type: ignore[attr-defined]
        return cast(F, call_sync)

    return decorate
