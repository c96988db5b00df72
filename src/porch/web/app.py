"""`porch.App`: routes, hooks, middleware and error handlers over the native contract.

The app is itself a native porch app (``async def __call__(request) -> Response``), so the
server calls it directly. Everything is registered before serving; `freeze()` (called at
start-up, or by the first request) compiles the router, each handler's call plan and the
middleware chain, and any registration after that is an error.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar, overload

from porch.errors import HTTPError
from porch.interfaces.asgi_app import ASGIScope, Receive, Send, asgi_call
from porch.request import Request, State
from porch.response import JSONResponse, RedirectResponse, Response
from porch.web.blueprints import Blueprint, Scope, scoped
from porch.web.chain import (
    WRAPPERS,
    Handler,
    Hook,
    Middleware,
    Routes,
    as_async,
    find_handler,
    link,
)
from porch.web.handlers import Invoker, compile_handler, to_response
from porch.web.openapi import build as build_openapi
from porch.web.openapi import exclude as exclude_from_openapi
from porch.web.openapi import install as install_openapi
from porch.web.params import Provider
from porch.web.routing import RedirectSlash, Router
from porch.websocket.routes import match_upgrade

if TYPE_CHECKING:
    from porch.config import Config
    from porch.security.csrf import CSRF
    from porch.security.guard import Guard
    from porch.security.sessions import Sessions

__all__ = ["App"]

F = TypeVar("F", bound=Callable[..., Any])


class App(Routes):
    """A web application.

    ``app = porch.App()``, then ``@app.get("/users/{id:int}")`` on handlers, ``app.run()`` for
    development or ``porch serve module:app``. Handlers may be ``async def`` or plain ``def``
    (run in a bounded thread pool of `max_threads`, never on the event loop).
    """

    __porch_native__ = True

    def __init__(
        self,
        *,
        max_threads: int | None = None,
        openapi: bool = False,
        title: str = "porch",
        version: str = "0.1.0",
        secret_key: str | bytes | Sequence[str | bytes] | None = None,
        sessions: Sessions | str | bool = True,
        csrf: CSRF | bool = True,
    ) -> None:
        self.router = Router()
        self._openapi_info = (title, version) if openapi else None
        self.state = State()
        self.frozen = False
        self._max_threads = max_threads or min(32, (os.cpu_count() or 1) + 4)
        self._executor: ThreadPoolExecutor | None = None
        self._invokers: dict[int, Invoker] = {}
        self._middleware: list[Middleware] = []
        self._before: list[Callable[[Request], Awaitable[Any]]] = []
        self._after: list[Callable[[Request, Response], Awaitable[Any]]] = []
        self._errors: dict[type[BaseException] | int, Hook] = {}
        self._scopes: dict[int, tuple[Scope, ...]] = {}  # route id -> its blueprints
        self._startup: list[Callable[[], Awaitable[None]]] = []
        self._shutdown: list[Callable[[], Awaitable[None]]] = []
        self._chain: Handler = self._dispatch
        # Sessions and CSRF (porch.security); None when both are off.
        self._guard: Guard | None = _make_guard(secret_key, sessions, csrf)
        # Makers of provided handler parameters, by annotation (porch.db's session, ...).
        self.providers: dict[Any, Provider] = {}
        self.blueprints: dict[str, Blueprint] = {}  # by qualified name ("admin.users")

    # registering -------------------------------------------------------------------------

    def route(
        self, path: str, methods: list[str] | tuple[str, ...] = ("GET",), name: str | None = None
    ) -> Callable[[F], F]:
        """Register the decorated handler for `path` and `methods`."""

        def register(func: F) -> F:
            self.add_route(path, func, methods, name)
            return func

        return register

    def add_route(
        self,
        path: str,
        func: Callable[..., Any],
        methods: list[str] | tuple[str, ...] = ("GET",),
        name: str | None = None,
        scopes: tuple[Scope, ...] = (),
    ) -> None:
        """Register `func` for `path` (what the decorators and blueprints call)."""
        self._check_open("add a route")
        route = self.router.add(path, func, methods, name)
        if scopes:
            self._scopes[id(route)] = scopes

    def include(self, blueprint: Blueprint, url_prefix: str | None = None) -> None:
        """Add a blueprint's routes under its prefix (or `url_prefix`)."""
        self._check_open("include a blueprint")
        prefix = blueprint.url_prefix if url_prefix is None else url_prefix
        blueprint.register(self, prefix, "", ())

    register_blueprint = include

    def static(self, prefix: str, directory: str | os.PathLike[str], **options: Any) -> None:
        """Serve the files of `directory` under `prefix` with porch's static engine
        (ranges, validators, sendfile): ``app.static("/assets", "static/")``. `options` are
        those of `porch.StaticFiles` (max_age, listing, ...)."""
        from porch.static import StaticFiles

        prefix = prefix.rstrip("/")
        if not prefix.startswith("/"):
            raise ValueError(f"static prefix {prefix!r} must start with '/'")
        files = StaticFiles(directory, prefix=prefix, **options)

        async def serve_static(request: Request) -> Response:
            return await files(request)

        name = f"static{prefix.replace('/', ':')}"
        self.add_route(prefix + "/", exclude_from_openapi(serve_static), ("GET",), name + ":index")
        self.add_route(
            prefix + "/{path:path}", exclude_from_openapi(_static_file(files)), ("GET",), name
        )

    def middleware(self, func: F) -> F:
        """``async def mw(request, call_next) -> Response``; the first registered runs
        outermost."""
        self._check_open("add middleware")
        self._middleware.append(func)
        return func

    def before_request(self, func: F) -> F:
        """Runs before routing; a non-None return value is the response."""
        self._check_open("add a hook")
        self._before.append(as_async(func))
        return func

    def after_request(self, func: F) -> F:
        """``hook(request, response)``; may return a replacement response."""
        self._check_open("add a hook")
        self._after.append(as_async(func))
        return func

    def error_handler(self, key: type[BaseException] | int) -> Callable[[F], F]:
        """Handle an exception type (and its subclasses) or an HTTP status:
        ``handler(request, exc)`` returns what a route handler may return."""

        def register(func: F) -> F:
            self._check_open("add an error handler")
            self._errors[key] = as_async(func)
            return func

        return register

    def on_startup(self, func: F) -> F:
        self._check_open("add a start-up hook")
        self._startup.append(as_async(func))
        return func

    def on_shutdown(self, func: F) -> F:
        self._check_open("add a shut-down hook")
        self._shutdown.append(as_async(func))
        return func

    def url_for(self, name: str, /, **params: Any) -> str:
        return self.router.url_for(name, **params)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the routes (served at /openapi.json with openapi=True)."""
        title, version = self._openapi_info or ("porch", "0.1.0")
        return build_openapi(self.router.routes, title, version)

    def _check_open(self, what: str) -> None:
        if self.frozen:
            raise RuntimeError(f"cannot {what}: the app is already serving")

    # lifecycle -------------------------------------------------------------------------------

    def freeze(self) -> None:
        """Compile routes, handler plans and the middleware chain; later changes are errors."""
        if self.frozen:
            return
        if self._openapi_info is not None:
            install_openapi(self.router, self.openapi)
        self.router.freeze()
        executor = self._executor = ThreadPoolExecutor(
            max_workers=self._max_threads, thread_name_prefix="porch-handler"
        )
        for route in self.router.routes:
            invoker = compile_handler(route.endpoint, route.params, executor, self.providers)
            for wrap in getattr(route.endpoint, WRAPPERS, ()):
                invoker = wrap(invoker)
            scopes = self._scopes.get(id(route))
            invoker = scoped(invoker, scopes) if scopes else invoker
            guard = self._guard
            if guard is not None and guard.csrf_on:
                from porch.security.csrf import exempt_any

                if not exempt_any((route.endpoint, *(scopes or ()))):
                    invoker = guard.protect(invoker)
            self._invokers[id(route)] = invoker
        # With middleware, errors become responses inside it (as Starlette's exception
        # middleware does): CORS, security headers and gzip then finish a 404 or a 403 too.
        chain: Handler = self._dispatch_handled if self._middleware else self._dispatch
        for middleware in reversed(self._middleware):
            chain = link(middleware, chain)
        self._chain = chain
        self.frozen = True

    async def startup(self, config: Config | None = None) -> None:
        """Called by the server before it listens (with its config: production refuses to
        start without the secret key that sessions and CSRF sign with)."""
        self.freeze()
        if self._guard is not None:
            self._guard.start(config.env if config is not None else None)
        for hook in self._startup:
            await hook()

    async def shutdown(self) -> None:
        """Called by the server after the last request."""
        for hook in self._shutdown:
            await hook()
        if self._guard is not None:
            await self._guard.stop()
        # The thread pool lives as long as the app: it may be served again (tests, reloads);
        # idle workers end with the interpreter.

    def run(self, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
        """Serve with porch's server until SIGINT/SIGTERM (development and small sites)."""
        from porch.config import Config
        from porch.server import Server

        if "env" not in options and "PORCH_ENV" not in os.environ:
            options["env"] = "development"
        Server(self, Config.from_env(host=host, port=port, **options)).run()

    # serving ---------------------------------------------------------------------------------

    @overload
    async def __call__(self, request: Request) -> Response: ...
    @overload
    async def __call__(self, request: ASGIScope, receive: Receive, send: Send) -> None: ...
    async def __call__(
        self, request: Any, receive: Receive | None = None, send: Send | None = None
    ) -> Response | None:
        if receive is not None and send is not None:  # an ASGI server: (scope, receive, send)
            await asgi_call(self, request, receive, send)
            return None
        if not self.frozen:
            self.freeze()
        guard = self._guard
        if guard is None:
            try:
                return await self._chain(request)
            except Exception as exc:
                return await self._handle_error(request, exc)
        loading = guard.begin(request)  # an awaitable only for a server-side session to load
        if loading is not None:
            await loading
        try:
            response = await self._chain(request)
        except Exception as exc:
            response = await self._handle_error(request, exc)
        if request._security is guard:  # neither the session nor a CSRF token was used
            return response
        return await guard.finish(request, response)

    async def _dispatch(self, request: Request) -> Response:
        for hook in self._before:
            early = await hook(request)
            if early is not None:
                return to_response(early)
        try:
            if request.upgrade is None:
                match = self.router.match(request.method, request.path)
            else:  # WebSocket routes first (porch.websocket.routes)
                match = match_upgrade(self.router, request)
        except RedirectSlash as redirect:
            location = redirect.location
            if request.query_string:
                location += "?" + request.query_string.decode("ascii")
            return RedirectResponse(location, 308)
        except HTTPError as exc:
            if request.method == "OPTIONS" and exc.status == 405:
                return Response(b"", 204, exc.headers)
            raise
        response = to_response(await self._invokers[id(match.route)](request, match.params))
        for after in self._after:
            replaced = await after(request, response)
            if replaced is not None:
                response = to_response(replaced)
        return response

    async def _dispatch_handled(self, request: Request) -> Response:
        try:
            return await self._dispatch(request)
        except Exception as exc:
            if not isinstance(exc, HTTPError) and find_handler(self._errors, exc) is None:
                raise  # unhandled: the server logs it and answers 500
            return await self._handle_error(request, exc)

    async def _handle_error(self, request: Request, exc: Exception) -> Response:
        handler = find_handler(self._errors, exc)
        if handler is not None:
            return to_response(await handler(request, exc))
        if isinstance(exc, HTTPError):
            errors = exc.errors
            if errors is not None:
                return JSONResponse({"detail": errors}, exc.status, exc.headers)
            return Response(exc.detail + "\n", exc.status, exc.headers, "text/plain")
        raise exc  # the server logs it with its traceback and answers 500


def _make_guard(
    secret_key: str | bytes | Sequence[str | bytes] | None,
    sessions: Sessions | str | bool,
    csrf: CSRF | bool,
) -> Guard | None:
    """App(sessions=True|False|"cookie"|"memory"|"redis"|Sessions(...), csrf=True|False|CSRF)."""
    if sessions is False and csrf is False:
        return None
    from porch.security.csrf import CSRF
    from porch.security.guard import Guard
    from porch.security.sessions import Sessions

    if sessions is True:
        sessions = Sessions()
    elif isinstance(sessions, str):
        sessions = Sessions(store=sessions)
    return Guard(
        secret_key,
        sessions or None,
        CSRF() if csrf is True else (csrf or None),
    )


def _static_file(files: Any) -> Callable[..., Awaitable[Response]]:
    async def serve_file(request: Request, path: str) -> Response:
        response: Response = await files(request)
        return response

    return serve_file
