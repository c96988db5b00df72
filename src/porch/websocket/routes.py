"""WebSocket routes for `porch.App` and blueprints: ``@app.websocket("/ws/{room}")``.

A WebSocket route is a route for the pseudo-method ``WEBSOCKET``: an upgrade request is
matched against those first (`match_upgrade`), so one path may have both a page (GET) and a
WebSocket. The handler is wrapped (`websocket_endpoint`) into an ordinary endpoint, so the
upgrade request goes through the app's and the blueprint's before-request hooks and
middleware, and the handler's other parameters (path, query, headers, cookies, the request)
are filled and validated as for HTTP handlers. The wrapper:

- checks the handshake before the handler runs (400/426 with a reason);
- answers 403 when the handler closes or returns without accepting, and the error's status
  when it raises `HTTPError` before accepting;
- closes with 1011 (and logs) when the handler raises after accepting, and with 1000 when it
  returns leaving the connection open; a client that went away ends the handler quietly.
"""

from __future__ import annotations

import inspect
import logging
import re
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from porch.errors import HTTPError
from porch.request import Request
from porch.response import Response
from porch.web.chain import WRAPPERS
from porch.web.routing import WEBSOCKET, Match, Router
from porch.websocket.connection import WebSocket, handshake_error, is_websocket
from porch.websocket.protocol import WebSocketDisconnect

__all__ = ["WEBSOCKET", "match_upgrade", "websocket_endpoint"]

logger = logging.getLogger("porch.error")
_REQUEST_PARAM = "_porch_request"
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)")


def match_upgrade(router: Router, request: Request) -> Match:
    """The route for a request with an Upgrade header: a WebSocket route when it asks for a
    WebSocket and one exists, else the route of its method (which answers over HTTP)."""
    if is_websocket(request):
        try:
            return router.match(WEBSOCKET, request.path)
        except HTTPError:
            pass
    return router.match(request.method, request.path)


def websocket_endpoint(
    func: Callable[..., Awaitable[Any]],
    path: str,
    origins: Sequence[str | None] | None = None,
) -> Callable[..., Awaitable[Response]]:
    """`func` (``async def handler(ws: WebSocket, ...)``) as a route endpoint whose signature
    is `func`'s without the WebSocket parameter, plus the request."""
    if not inspect.iscoroutinefunction(func):
        raise TypeError(f"{func.__qualname__}: a WebSocket handler must be an async def")
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:
        hints = {}
    params = list(signature.parameters.values())
    ws_name = next((p.name for p in params if hints.get(p.name) is WebSocket), None)
    if ws_name is None:
        if not params:
            raise TypeError(f"{func.__qualname__}: a WebSocket handler takes the WebSocket")
        ws_name = params[0].name  # unannotated: the first parameter
    rest = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in params if p.name != ws_name
    ]
    first = inspect.Parameter(
        _REQUEST_PARAM, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
    )

    async def endpoint(*args: Any, **kwargs: Any) -> Response:
        request: Request = args[0] if args else kwargs.pop(_REQUEST_PARAM)
        params = {k: v for k, v in kwargs.items() if k in path_names}
        ws = WebSocket(request, origins=origins, path_params=params)
        kwargs[ws_name] = ws
        return await run_handler(ws, func, kwargs)

    path_names = set(_PATH_PARAM.findall(path))
    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[first, *rest], return_annotation=Response
    )
    endpoint.__annotations__ = {
        _REQUEST_PARAM: Request,
        **{p.name: p.annotation for p in rest if p.annotation is not inspect.Parameter.empty},
    }
    endpoint.__name__ = func.__name__
    endpoint.__qualname__ = func.__qualname__
    endpoint.__doc__ = func.__doc__
    endpoint.__module__ = func.__module__
    wrappers = getattr(func, WRAPPERS, None)
    if wrappers:  # @rate_limit and the like, under @app.websocket
        setattr(endpoint, WRAPPERS, wrappers)
    return endpoint


async def run_handler(
    ws: WebSocket, func: Callable[..., Awaitable[Any]], kwargs: dict[str, Any]
) -> Response:
    """Run a WebSocket handler; the response for a refused handshake, or the upgrade's."""
    error = handshake_error(ws.request)
    if error is not None:
        raise error
    try:
        await func(**kwargs)
    except WebSocketDisconnect:
        pass  # the client went away or closed: the handler's business is over
    except Exception as exc:
        if not ws.accepted:
            raise  # an HTTP error answers the handshake
        logger.error("Exception in WebSocket handler for %s", ws.request.path, exc_info=exc)
        if not ws.closed:
            await ws.close(1011, "internal error")
        return upgraded()
    if not ws.accepted:
        return Response("WebSocket connection refused\n", 403, media_type="text/plain")
    if not ws.closed:
        await ws.close()
    return upgraded()


def upgraded() -> Response:
    """What a WebSocket endpoint returns once the connection was handed over: the server
    sends nothing for it. A new one each time: after-request hooks may add to it."""
    return Response(b"", 101)
