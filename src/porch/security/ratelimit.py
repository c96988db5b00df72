"""Rate limits: N requests per period per client (and per route), in memory or Redis.

``app.middleware(RateLimit("100/minute"))`` limits every request of a client;
``@rate_limit("5/minute")`` under a route decorator limits that route alone. Counts live in a
`porch.cache.Cache`: in-process by default (each worker counts alone), shared by every
worker and machine with Redis (``cache=RedisCache(...)``, or ``PORCH_REDIS_URL`` through
`porch.cache.default_cache()`).

The algorithm is the sliding window counter: the count of the current fixed window plus the
previous window's count weighted by how much of it still overlaps the last `period` seconds.
It needs two small keys per client, no clock sync beyond the machines' wall clocks, and
never lets a burst of twice the limit through at a window boundary as a plain fixed window
does. Every answer carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset``; a refusal is a 429 with ``Retry-After``. Refused requests count too, so
a client that keeps hammering stays refused.

The client is ``request.client``'s address, which the server has already taken from the
Forwarded / X-Forwarded-For headers of trusted proxies only (--forwarded-allow-ips), so a
client cannot pick its own key by sending those headers.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from porch.cache.base import Cache, resolve_cache
from porch.request import Request
from porch.response import PlainTextResponse, Response
from porch.web.chain import wrap_handler
from porch.web.handlers import to_response

__all__ = ["RateLimit", "parse_rate", "rate_limit"]

F = TypeVar("F", bound=Callable[..., Any])
Next = Callable[[Request], Awaitable[Response]]
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d*\.?\d*)\s*([a-z]+?)s?\s*")


def parse_rate(rate: str) -> tuple[int, float]:
    """ "100/minute", "5 per 10 seconds", "1000/hour" -> (limit, period in seconds)."""
    match = _RATE.fullmatch(rate.lower())
    unit = match and {
        "s": "second",
        "sec": "second",
        "min": "minute",
        "m": "minute",
        "h": "hour",
    }.get(match.group(3), match.group(3))
    if match is None or unit not in _UNITS or int(match.group(1)) < 1:
        raise ValueError(
            f"rate {rate!r}: write it as N/unit or N per M units, e.g. 100/minute, "
            "5 per 10 seconds (units: second, minute, hour, day)"
        )
    count = float(match.group(2)) if match.group(2) else 1.0
    return int(match.group(1)), count * _UNITS[unit]


def client_key(request: Request) -> str:
    client = request.client
    return client[0] if client is not None else "local"


class RateLimit:
    """A limit of `rate` per client; `key(request) -> str` to count by something else
    (an API key, a user id). `scope` names the counter (two limits with one scope share
    counts)."""

    def __init__(
        self,
        rate: str,
        *,
        cache: Cache | None = None,
        key: Callable[[Request], str] = client_key,
        scope: str = "app",
    ) -> None:
        self.limit, self.period = parse_rate(rate)
        self._cache = cache
        self.key = key
        self.scope = scope

    @property
    def cache(self) -> Cache:
        if self._cache is None:
            self._cache = resolve_cache(None)
        return self._cache

    async def hit(self, request: Request) -> tuple[bool, dict[str, str]]:
        """Count one request: (allowed, the RateLimit headers to send)."""
        period = self.period
        now = time.time()
        window = int(now // period)
        elapsed = now - window * period
        base = f"rl:{self.scope}:{self.key(request)}:"
        cache = self.cache
        current = await cache.incr(base + str(window), 1, ttl=2 * period)
        previous = await cache.get(base + str(window - 1), 0)
        used = previous * (1 - elapsed / period) + current
        reset = max(1, math.ceil(period - elapsed))
        headers = {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(max(0, self.limit - math.ceil(used))),
            "ratelimit-reset": str(reset),
        }
        if used > self.limit:
            headers["retry-after"] = str(reset)
            return False, headers
        return True, headers

    def refusal(self, headers: dict[str, str]) -> Response:
        return PlainTextResponse(
            f"Too many requests: the limit is {self.limit} per {self.period:g} seconds; "
            f"retry after {headers['retry-after']} seconds\n",
            429,
            headers,
        )

    async def __call__(self, request: Request, call_next: Next) -> Response:
        allowed, headers = await self.hit(request)
        if not allowed:
            return self.refusal(headers)
        response = await call_next(request)
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response


def rate_limit(
    rate: str,
    *,
    cache: Cache | None = None,
    key: Callable[[Request], str] = client_key,
    scope: str | None = None,
) -> Callable[[F], F]:
    """Limit one route: ``@app.post("/login")`` over ``@rate_limit("5/minute")``."""

    def decorate(func: F) -> F:
        limiter = RateLimit(
            rate, cache=cache, key=key, scope=scope or f"{func.__module__}.{func.__qualname__}"
        )

        def wrap(invoker: Any) -> Any:
            async def call(request: Request, params: dict[str, Any]) -> Response:
                allowed, headers = await limiter.hit(request)
                if not allowed:
                    return limiter.refusal(headers)
                response = to_response(await invoker(request, params))
                for name, value in headers.items():
                    response.headers.setdefault(name, value)
                return response

            return call

        return wrap_handler(func, wrap)

    return decorate
