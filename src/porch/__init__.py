"""porch: a fast, strict HTTP/1.1 server and web framework in one package.

A native app is ``async def app(request: porch.Request) -> porch.Response``; serve it with
``porch serve module:app`` or ``porch.run(app)``.
"""

from porch.config import Config
from porch.datastructures import Headers, MutableHeaders, QueryParams
from porch.errors import (
    ClientDisconnected,
    ConfigError,
    HTTPError,
    HTTPException,
    PorchError,
    ProtocolError,
    ResponseError,
    abort,
)
from porch.request import Request
from porch.response import (
    EventStream,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    ServerSentEvent,
    StreamingResponse,
)
from porch.server import Server, run
from porch.static import FileResponse, StaticFiles
from porch.web import App, Blueprint, Body, Cookie, Header, Path, Query
from porch.websocket import WebSocket, WebSocketDisconnect, is_websocket

__version__ = "0.1.0"

__all__ = [
    # the framework
    "App",
    "Blueprint",
    "Query",
    "Header",
    "Cookie",
    "Body",
    "Path",
    # the native contract
    "Request",
    "Response",
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "StreamingResponse",
    "FileResponse",
    "EventStream",
    "ServerSentEvent",
    # static files
    "StaticFiles",
    # data structures
    "Headers",
    "MutableHeaders",
    "QueryParams",
    # serving
    "Config",
    "Server",
    "run",
    # errors
    "PorchError",
    "HTTPError",
    "HTTPException",
    "abort",
    "ProtocolError",
    "ClientDisconnected",
    "ResponseError",
    "ConfigError",
    # WebSockets
    "WebSocket",
    "WebSocketDisconnect",
    "is_websocket",
]
