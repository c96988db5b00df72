"""Blueprints: a group of routes with its own URL prefix, hooks, middleware and error handlers.

A blueprint records what is registered on it and replays it onto an app (or a parent
blueprint) under its prefix when included. Its hooks, middleware and error handlers apply to
its own routes only (and to those of blueprints nested in it); the app's apply to everything.
Route names are qualified by the blueprint's name: ``url_for("users.show", id=1)``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from porch.request import Request
from porch.response import Response
from porch.web.chain import Hook, Middleware, Routes, as_async, find_handler, link
from porch.web.handlers import Invoker, to_response

if TYPE_CHECKING:
    from porch.web.app import App

__all__ = ["Blueprint", "Scope", "scoped"]

F = TypeVar("F", bound=Callable[..., Any])


class Scope:
    """The hooks, middleware and error handlers of one blueprint."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.before: list[Hook] = []
        self.after: list[Hook] = []
        self.middleware: list[Middleware] = []
        self.errors: dict[type[BaseException] | int, Hook] = {}
        self.csrf = True  # False: the blueprint's routes skip the app's CSRF check


class Blueprint(Routes):
    """``bp = Blueprint("users", url_prefix="/users")``; decorate handlers as on an App, then
    ``app.include(bp)``. Blueprints nest: ``bp.include(child)``."""

    def __init__(
        self,
        name: str,
        url_prefix: str = "",
        *,
        template_folder: str | os.PathLike[str] | None = None,
        csrf: bool = True,
    ) -> None:
        if not name or "." in name:
            raise ValueError(f"blueprint name {name!r} must be non-empty and contain no '.'")
        if url_prefix and (not url_prefix.startswith("/") or url_prefix.endswith("/")):
            raise ValueError(f"url_prefix {url_prefix!r} must start with '/' and not end with '/'")
        self.name = name
        self.url_prefix = url_prefix
        self.scope = Scope(name)
        self.scope.csrf = csrf
        self._routes: list[tuple[str, Callable[..., Any], tuple[str, ...], str | None]] = []
        self._children: list[tuple[Blueprint, str | None]] = []
        self._included = False
        # porch.templates searches it before the app's folder for this blueprint's routes; a
        # relative folder is taken from the module that creates the blueprint.
        self.template_folder = _module_relative(template_folder) if template_folder else None

    def route(
        self, path: str, methods: list[str] | tuple[str, ...] = ("GET",), name: str | None = None
    ) -> Callable[[F], F]:
        def record(func: F) -> F:
            self._check_open()
            self._routes.append((path, func, tuple(methods), name))
            return func

        return record

    def before_request(self, func: F) -> F:
        self._check_open()
        self.scope.before.append(as_async(func))
        return func

    def after_request(self, func: F) -> F:
        self._check_open()
        self.scope.after.append(as_async(func))
        return func

    def middleware(self, func: F) -> F:
        self._check_open()
        self.scope.middleware.append(func)
        return func

    def error_handler(self, key: type[BaseException] | int) -> Callable[[F], F]:
        def register(func: F) -> F:
            self._check_open()
            self.scope.errors[key] = as_async(func)
            return func

        return register

    def include(self, child: Blueprint, url_prefix: str | None = None) -> None:
        """Nest `child`: its routes go under this blueprint's prefix, then its own."""
        self._check_open()
        if child is self:
            raise ValueError("a blueprint cannot include itself")
        self._children.append((child, url_prefix))

    def _check_open(self) -> None:
        if self._included:
            raise RuntimeError(f"blueprint {self.name!r} was already included in an app")

    def register(self, app: App, prefix: str, name_prefix: str, scopes: tuple[Scope, ...]) -> None:
        """Replay the recorded routes onto `app` (called by `App.include`)."""
        self._included = True
        scopes = (*scopes, self.scope)
        qualified = f"{name_prefix}{self.name}."
        app.blueprints[qualified[:-1]] = self
        for path, func, methods, name in self._routes:
            full = (prefix + path) or "/"  # "" is the prefix itself: @bp.get("") -> /bp
            route_name = qualified + str(name or getattr(func, "__name__", path))
            app.add_route(full, func, methods, route_name, scopes)
        for child, child_prefix in self._children:
            sub = prefix + (child.url_prefix if child_prefix is None else child_prefix)
            child.register(app, sub, qualified, scopes)


def _module_relative(folder: str | os.PathLike[str]) -> Path:
    """`folder` as given when absolute, else from the folder of the Blueprint's creator."""
    path = Path(folder)
    if path.is_absolute():
        return path
    file = sys._getframe(2).f_globals.get("__file__")
    return (Path(file).resolve().parent if file else Path.cwd()) / path


def scoped(invoker: Invoker, scopes: tuple[Scope, ...]) -> Invoker:
    """Wrap a route's invoker in its blueprints' hooks, middleware and error handlers
    (outermost blueprint first)."""

    async def call(request: Request, params: dict[str, Any]) -> Response:
        return to_response(await invoker(request, params))

    handler: Callable[[Request, dict[str, Any]], Awaitable[Response]] = call
    for scope in reversed(scopes):
        handler = _wrap(scope, handler)
    return handler


def _wrap(
    scope: Scope, inner: Callable[[Request, dict[str, Any]], Awaitable[Response]]
) -> Callable[[Request, dict[str, Any]], Awaitable[Response]]:
    if not (scope.before or scope.after or scope.middleware or scope.errors):
        return inner

    async def call(request: Request, params: dict[str, Any]) -> Response:
        try:
            for hook in scope.before:
                early = await hook(request)
                if early is not None:
                    return to_response(early)

            async def innermost(req: Request) -> Response:
                return await inner(req, params)

            chain: Callable[[Request], Awaitable[Response]] = innermost
            for middleware in reversed(scope.middleware):
                chain = link(middleware, chain)
            response = await chain(request)
            for hook in scope.after:
                replaced = await hook(request, response)
                if replaced is not None:
                    response = to_response(replaced)
            return response
        except Exception as exc:
            handler = find_handler(scope.errors, exc)
            if handler is None:
                raise
            return to_response(await handler(request, exc))

    return call
