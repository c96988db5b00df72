"""The app's sessions and CSRF wiring: what `porch.App` calls around each request.

`begin` marks the request (and loads a server-side session when the request carries its
cookie: that load needs an await, so it cannot wait for first use); `finish` writes back
what the request used; `protect` wraps a route's invoker with the CSRF check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from porch.request import Request
from porch.response import Response
from porch.security.context import RequestContext
from porch.security.csrf import CSRF, SAFE_METHODS, check_origin, check_token
from porch.security.keys import KeyRing, current_env, resolve_keys
from porch.security.sessions import CookieStore, ServerStore, Sessions, make_store

__all__ = ["Guard"]

Invoker = Callable[[Request, dict[str, Any]], Awaitable[Any]]


class Guard:
    """Sessions and CSRF for one app (None of either when turned off)."""

    def __init__(
        self,
        secret_key: str | bytes | Sequence[str | bytes] | None,
        sessions: Sessions | None,
        csrf: CSRF | None,
    ) -> None:
        self.secret_key = secret_key
        self.session_settings = sessions
        self.csrf_settings: CSRF = csrf or CSRF()
        self.csrf_on = csrf is not None
        self.keys: KeyRing | None = None
        self.store: CookieStore | ServerStore | None = None
        self.server_side = False
        self.csrf_serializer: Any = None

    def start(self, env: str | None = None) -> None:
        """Resolve the keys (a `ConfigError` in production without one) and the store."""
        if self.keys is not None:
            return
        keys = resolve_keys(self.secret_key, env or current_env())
        if self.session_settings is not None:
            self.store = make_store(self.session_settings, keys)
            self.server_side = self.store.server_side
        self.csrf_serializer = keys.serializer("porch.csrf")
        self.keys = keys

    async def stop(self) -> None:
        """Close the server-side store's connections of this loop (the app shuts down)."""
        if isinstance(self.store, ServerStore):
            await self.store.cache.close()

    def begin(self, request: Request) -> Awaitable[None] | None:
        """Mark the request; an awaitable when its server-side session must be loaded
        first (sync otherwise: this runs on every request)."""
        if self.keys is None:
            self.start()  # served without startup(): the test client, an ASGI server
        request._security = self
        if self.server_side and self.store.session_id(request) is not None:  # type: ignore[union-attr]
            return self._load(request)
        return None

    async def _load(self, request: Request) -> None:
        store: ServerStore = self.store  # type: ignore[assignment]
        made = request._security = RequestContext(self, request)
        made.loaded = await store.load(request)

    async def finish(self, request: Request, response: Response) -> Response:
        holder = request._security
        if type(holder) is RequestContext:
            await holder.commit(response)
        return response

    def protect(self, invoker: Invoker) -> Invoker:
        """`invoker` behind the CSRF check (unsafe methods on requests with cookies)."""
        settings = self.csrf_settings

        async def call(request: Request, params: dict[str, Any]) -> Any:
            if request.method not in SAFE_METHODS and request.cookies:
                check_origin(request, settings)
                from porch.security.context import context

                await check_token(request, settings, context(request).cookie_secret())
            return await invoker(request, params)

        return call
