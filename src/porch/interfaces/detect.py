"""Which interface an app speaks, and the native porch app that serves it."""

from __future__ import annotations

import inspect
from typing import Any

from porch.errors import ConfigError

__all__ = ["INTERFACES", "adapt", "detect"]

INTERFACES = ("auto", "porch", "asgi3", "asgi2", "wsgi")


def detect(app: Any) -> str:
    """``porch`` (``async def app(request)``), ``asgi3``, ``asgi2``, ``wsgi`` or ``unknown``,
    from the app's signature: an async callable of three arguments is ASGI 3, a plain one of
    two is WSGI, a class taking the scope is ASGI 2."""
    if getattr(app, "__porch_native__", False):
        return "porch"
    if inspect.isclass(app):
        if hasattr(app, "__await__"):
            return "asgi3"  # an awaitable class: instantiating it is the call
        return "asgi2" if _positional(app.__init__) == 2 else "unknown"
    target = app if inspect.isroutine(app) else getattr(app, "__call__", None)  # noqa: B004
    if target is None:
        return "unknown"
    count = _positional(target) or 0
    if inspect.iscoroutinefunction(target):
        return {1: "porch", 3: "asgi3"}.get(count, "unknown")
    return {1: "asgi2", 2: "wsgi"}.get(count, "unknown")


def _positional(func: Any) -> int | None:
    """How many positional arguments `func` takes; None when it takes ``*args``."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return None
    count = 0
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def adapt(
    app: Any,
    interface: str = "auto",
    *,
    root_path: str = "",
    lifespan: str = "auto",
    threads: int = 16,
    multiprocess: bool = False,
    timeout_lifespan: float = 30.0,
) -> Any:
    """The native porch app that serves `app` through `interface` (detected when ``auto``).

    A porch app is returned as it is; an ASGI app is wrapped in `ASGIHost`, a WSGI app in
    `WSGIHost`. An app whose kind cannot be told is a `ConfigError` asking for
    ``--interface``.
    """
    if interface not in INTERFACES:
        raise ConfigError(f"interface must be one of {', '.join(INTERFACES)}; got {interface!r}")
    kind = detect(app) if interface == "auto" else interface
    if kind == "porch":
        return app
    if kind in ("asgi3", "asgi2"):
        from porch.interfaces.asgi import ASGIHost, asgi2_to_asgi3

        asgi = asgi2_to_asgi3(app) if kind == "asgi2" else app
        return ASGIHost(
            asgi, root_path=root_path, lifespan=lifespan, timeout_lifespan=timeout_lifespan
        )
    if kind == "wsgi":
        from porch.interfaces.wsgi import WSGIHost

        return WSGIHost(app, root_path=root_path, threads=threads, multiprocess=multiprocess)
    raise ConfigError(
        f"cannot tell which interface {app!r} speaks: give --interface "
        "porch (async def app(request)), asgi3 (async def app(scope, receive, send)), "
        "asgi2 or wsgi (def app(environ, start_response))"
    )
