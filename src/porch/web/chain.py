"""Pieces shared by the app and its blueprints: hooks, middleware links, error lookup."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from porch.errors import HTTPError
from porch.request import Request
from porch.response import Response

__all__ = [
    "Handler",
    "Hook",
    "Middleware",
    "Routes",
    "as_async",
    "find_handler",
    "link",
    "wrap_handler",
]

F = TypeVar("F", bound=Callable[..., Any])

Handler = Callable[[Request], Awaitable[Response]]
Middleware = Callable[[Request, Handler], Awaitable[Response]]
Hook = Callable[..., Awaitable[Any]]


def as_async(func: Callable[..., Any]) -> Hook:
    """Hooks may be plain functions; they run on the loop, so they must not block."""
    if inspect.iscoroutinefunction(func):
        return func

    async def call(*args: Any) -> Any:
        return func(*args)

    return call


def link(middleware: Middleware, call_next: Handler) -> Handler:
    """``middleware(request, call_next)`` as a handler of one argument."""

    async def call(request: Request) -> Response:
        return await middleware(request, call_next)

    return call


def find_handler(handlers: dict[type[BaseException] | int, Hook], exc: Exception) -> Hook | None:
    """The handler for `exc`: by status for an HTTPError, else along the exception's MRO."""
    if not handlers:
        return None
    if isinstance(exc, HTTPError) and exc.status in handlers:
        return handlers[exc.status]
    for kind in type(exc).__mro__:
        if kind in handlers:
            return handlers[kind]
    return None


class Routes:
    """The per-method shortcuts over `route()`, shared by `App` and `Blueprint`."""

    def route(
        self, path: str, methods: list[str] | tuple[str, ...] = ("GET",), name: str | None = None
    ) -> Callable[[F], F]:
        raise NotImplementedError

    def get(self, path: str, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ("GET",), name)

    def post(self, path: str, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ("POST",), name)

    def put(self, path: str, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ("PUT",), name)

    def patch(self, path: str, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ("PATCH",), name)

    def delete(self, path: str, name: str | None = None) -> Callable[[F], F]:
        return self.route(path, ("DELETE",), name)

    def websocket(
        self,
        path: str,
        name: str | None = None,
        *,
        origins: list[str | None] | tuple[str | None, ...] | None = None,
    ) -> Callable[[F], F]:
        """Register ``async def handler(ws: porch.WebSocket, ...)`` for WebSocket upgrades of
        `path` (docs/websockets.md). `origins`: the Origin values accepted (None in it
        allows requests without one); others get 403."""
        from porch.websocket.routes import WEBSOCKET, websocket_endpoint

        def register(func: F) -> F:
            self.route(path, (WEBSOCKET,), name)(websocket_endpoint(func, path, origins))
            return func

        return register


WRAPPERS = "__porch_wrappers__"


def wrap_handler(func: F, wrap: Callable[[Any], Any]) -> F:
    """Mark `func` so that the app wraps its compiled invoker ``(request, params) -> result``
    with `wrap` when it freezes (how `cache_response`, `rate_limit` and the like see the
    request of a handler that does not take one). The first wrap added is the innermost."""
    wrappers = getattr(func, WRAPPERS, ())
    setattr(func, WRAPPERS, (*wrappers, wrap))
    return func
