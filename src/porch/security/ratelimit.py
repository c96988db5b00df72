"""Rate limits: N requests per period per client (and per route), in memory or Redis.

``app.middleware(RateLimit("100/minute"))`` limits every request of a client;
``@rate_limit("5/minute")`` under a route decorator limits that route alone. Counts live in a
`porch.cache.Cache`: in-process by default (each worker counts alone, in a store of their
own that cached pages cannot evict), shared by every worker and machine with Redis
(``cache=RedisCache(...)``, or ``PORCH_REDIS_URL`` through `porch.cache.default_cache()`).

The algorithm is the sliding window counter: the count of the current fixed window plus the
previous window's count weighted by how much of it still overlaps the last `period` seconds.
It needs two small keys per client, no clock sync beyond the machines' wall clocks, and
never lets a burst of twice the limit through at a window boundary as a plain fixed window
does. Every answer carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset``; a refusal is a 429 with ``Retry-After``: when one more request fits
again (later than the window's end when this window's count weighs on the next). Refused
requests count too, so a client that keeps hammering stays refused.

The client is ``request.client``'s address (an IPv6 one by its /64), which the server has
already taken from the Forwarded / X-Forwarded-For headers of trusted proxies only
(--forwarded-allow-ips), so a client cannot pick its own key by sending those headers.
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from porch.cache.base import Cache, resolve_cache
from porch.cache.memory import MemoryCache
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
    try:
        count = float(match.group(2) or 1) if match else 0.0
    except ValueError:  # "." alone
        count = 0.0
    if match is None or unit not in _UNITS or int(match.group(1)) < 1 or count <= 0:
        raise ValueError(
            f"rate {rate!r}: write it as N/unit or N per M units, e.g. 100/minute, "
            "5 per 10 seconds (units: second, minute, hour, day; N and M above 0)"
        )
    return int(match.group(1)), count * _UNITS[unit]


_COUNTS: MemoryCache | None = None


def _counts() -> MemoryCache:
    """The in-process counts: apart from the default cache, whose LRU a client could
    otherwise flush (with requests for many distinct cached pages) to reset its own count."""
    global _COUNTS
    if _COUNTS is None:
        _COUNTS = MemoryCache("porch:", max_entries=100_000)
    return _COUNTS


def client_key(request: Request) -> str:
    """The client's address; for IPv6 its /64, which one subscriber gets whole (counted per
    address, a client could take a new one for every request)."""
    client = request.client
    if client is None:
        return "local"
    address = client[0]
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address.partition("%")[0])
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:  # an IPv4 client of a dual-stack socket: ::ffff:1.2.3.4
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


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
            shared = resolve_cache(None)
            self._cache = _counts() if isinstance(shared, MemoryCache) else shared
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
            retry = self.retry_after(previous, current, elapsed)
            headers["retry-after"] = str(max(1, math.ceil(retry)))
            return False, headers
        return True, headers

    def retry_after(self, previous: int, current: int, elapsed: float) -> float:
        """Seconds until one more request fits if none is made meanwhile. Not the end of
        the window: the count of this one weighs on the next, so a client told to come
        back then would be refused again (and that refusal would count too)."""
        limit, period = self.limit, self.period
        room = limit - 1 - current  # what the previous window's weight may take, this window
        if room >= 0 and previous > 0:
            wait = period * (1 - room / previous) - elapsed
            if wait < period - elapsed:
                return wait
        # In the next window, x seconds in: current * (1 - x / period) + 1 <= limit.
        x = 0.0 if current <= limit - 1 else period * (1 - (limit - 1) / current)
        return period - elapsed + x

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
