"""Whole-response caching for handlers, and ETags with 304s for dynamic responses.

`@cache_response(ttl=60)` stores a handler's response under its URL (scheme, host, path
and the full query string) and the request headers its response varies on. Like a shared
HTTP cache it is careful about what it keeps: only GET/HEAD, only a 200 with a bytes body,
never a response that sets a cookie, says ``Cache-Control: no-store/private/no-cache`` or
``Vary: *``, nor one built from the session; a request with ``Authorization`` goes to
the handler (unless ``vary=["Authorization"]``); a request that says ``Cache-Control:
no-store`` or ``no-cache`` (a reload) gets a fresh response.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from porch.cache.base import Cache, CacheChoice, resolve_cache
from porch.request import Request
from porch.response import Response
from porch.static.validators import none_match
from porch.web.chain import wrap_handler
from porch.web.handlers import to_response

__all__ = ["ETag", "cache_response", "etag_response", "etag_matches"]

F = TypeVar("F", bound=Callable[..., Any])
Invoker = Callable[[Request, dict[str, Any]], Awaitable[Any]]

_UNCACHEABLE = ("no-store", "private", "no-cache")
# What a 304 repeats from the 200 it stands for (RFC 9110 15.4.5), and the cookies the
# handler set (state, not metadata of the body: dropping them would lose it).
_NOT_MODIFIED_FIELDS = (
    "cache-control",
    "content-location",
    "date",
    "etag",
    "expires",
    "vary",
    "set-cookie",
)


def _directives(value: str | None) -> set[str]:
    if not value:
        return set()
    return {part.split("=", 1)[0].strip().lower() for part in value.split(",")}


def _vary_names(value: str | None) -> list[str]:
    if not value:
        return []
    return [name.strip().lower() for name in value.split(",") if name.strip()]


def cache_response(
    ttl: float,
    *,
    vary: Iterable[str] = (),
    cache: CacheChoice = None,
    etag: bool = False,
    prefix: str | None = None,
) -> Callable[[F], F]:
    """Cache the decorated handler's responses for `ttl` seconds (see the module's notes).

    `vary` names request headers that select a different response besides those in the
    response's own ``Vary``; `etag` adds a weak ETag and answers a matching
    ``If-None-Match`` with 304. `cache` defaults to `porch.cache.default_cache()`.
    Clear everything a handler cached with ``await cache.clear("resp:<prefix>")``, where
    `prefix` defaults to the handler's qualified name.
    """
    extra = [name.lower() for name in vary]

    def decorate(func: F) -> F:
        label = prefix or f"{func.__module__}.{func.__qualname__}"

        def wrap(invoker: Invoker) -> Invoker:
            async def call(request: Request, params: dict[str, Any]) -> Response:
                if request.method not in ("GET", "HEAD") or (
                    "authorization" in request.headers and "authorization" not in extra
                ):
                    # An authenticated request's answer is that user's (RFC 9111 3.5).
                    response = to_response(await invoker(request, params))
                    return etag_response(request, response) if etag else response
                store = resolve_cache(cache)
                response = await _cached(request, params, invoker, store, label, extra, ttl)
                return etag_response(request, response) if etag else response

            return call

        return wrap_handler(func, wrap)

    return decorate


async def _cached(
    request: Request,
    params: dict[str, Any],
    invoker: Invoker,
    store: Cache,
    label: str,
    extra: list[str],
    ttl: float,
) -> Response:
    # The scheme and Host are part of the URL: a page built from a forged Host must not
    # become every visitor's, nor one virtual host's page another's.
    host = request.host.decode("latin-1").lower() if request.host else ""
    url = f"{request.scheme}://{host}{request.raw_path.decode('latin-1')}?" + (
        request.query_string.decode("latin-1")
    )
    base = f"resp:{label}:{hashlib.blake2b(url.encode(), digest_size=16).hexdigest()}"
    asked = _directives(request.headers.get("cache-control"))
    fresh = "no-cache" in asked or "no-store" in asked
    if not fresh:
        # The URL's entry is the response itself, or (when it varies on request headers)
        # ["vary", names] pointing to one entry per combination of their values: one round
        # trip for the common case, two when the response varies.
        hit = await store.get(base)
        if _shaped(hit, 2) and hit[0] == "vary":
            hit = await store.get(_variant(base, hit[1], request))
        if _shaped(hit, 3):  # anything else (another porch version's entry) is a miss
            status, headers, body = hit
            return Response(body, status, [tuple(pair) for pair in headers])
    response = to_response(await invoker(request, params))
    if "no-store" not in asked and _storable(request, response):
        names = sorted({*extra, *_vary_names(response.headers.get("vary"))})
        entry = [response.status, [list(pair) for pair in response.headers.items()], response.body]
        if names:
            await store.set(base, ["vary", names], ttl)
            await store.set(_variant(base, names, request), entry, ttl)
        else:
            await store.set(base, entry, ttl)
    return response


def _shaped(entry: Any, size: int) -> bool:
    return isinstance(entry, list) and len(entry) == size


def _variant(base: str, names: list[str], request: Request) -> str:
    headers = request.headers
    values = "\n".join(f"{name}:{','.join(headers.getlist(name))}" for name in names)
    return f"{base}:{hashlib.blake2b(values.encode(), digest_size=16).hexdigest()}"


def _storable(request: Request, response: Response) -> bool:
    if response.status != 200 or response.stream is not None:
        return False
    headers = response.headers
    if "set-cookie" in headers or "*" in _vary_names(headers.get("vary")):
        return False
    if _directives(headers.get("cache-control")) & set(_UNCACHEABLE):
        return False
    from porch.security.context import personalized

    # A response built from the session (or holding a CSRF token) is one visitor's: a shared
    # entry would leak it.
    return not personalized(request)


# ETags --------------------------------------------------------------------------------------


def etag_matches(etag: str, if_none_match: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 8.8.3.2): ``W/"x"`` matches ``"x"``."""
    return none_match(if_none_match, etag)  # the static engine's, one reading of the field


def etag_response(request: Request, response: Response) -> Response:
    """Give a GET/HEAD 200 bytes response a weak ETag (a hash of its body) unless it has
    one, and answer 304 Not Modified when the request's If-None-Match matches it."""
    if request.method not in ("GET", "HEAD") or response.status != 200:
        return response
    if response.stream is not None:
        return response
    headers = response.headers
    etag = headers.get("etag")
    if etag is None:
        digest = hashlib.blake2b(response.body, digest_size=16).hexdigest()
        etag = headers["etag"] = f'W/"{digest}"'
    condition = request.headers.get("if-none-match")
    if condition is None or not etag_matches(etag, condition):
        return response
    kept = [(name, value) for name, value in headers.items() if name in _NOT_MODIFIED_FIELDS]
    return Response(b"", 304, kept)


class ETag:
    """Middleware: ETags and 304s for every GET/HEAD 200 with a bytes body.

    ``app.middleware(ETag())``. The body is still produced (this saves bandwidth, not work;
    `cache_response` saves the work)."""

    async def __call__(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        return etag_response(request, await call_next(request))
