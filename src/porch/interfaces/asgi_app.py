"""A native porch app served over ASGI 3 (HTTP and lifespan scopes).

The ASGI server's scope becomes one porch `Request` whose body is pulled from ``receive()``
as the app reads it; the app's `Response` is sent as ``http.response.*`` messages. While a
streamed body is sent, ``receive()`` is watched so that a client that goes away stops the
stream (servers before ASGI spec 2.4 drop `send` calls on a closed connection silently).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any, Protocol
from urllib.parse import quote, quote_from_bytes

from porch.datastructures import FRAMING_HEADERS
from porch.errors import ClientDisconnected, HTTPError, ResponseError
from porch.http.events import BodyKind
from porch.http.writer import body_allowed
from porch.request import ConnectionInfo, Request, RequestBody
from porch.response import FileBody, Response, close_body, iterate_body

__all__ = ["ASGIApp", "ASGIScope", "NativeApp", "Receive", "Send", "asgi_call"]

ASGIScope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("porch.interfaces")

_PATH_SAFE = "/!$&'()*+,;=:@-._~"
BODY_HIGH_WATER = 1 << 20  # bytes buffered from receive() while a response streams


class NativeApp(Protocol):
    """What `asgi_call` serves: ``await app(request) -> Response``. Optional ``startup()``,
    ``shutdown()`` coroutines and a ``state`` namespace are used when present."""

    def __call__(self, request: Request, /) -> Awaitable[Response]: ...


class ASGIApp:
    """Wrap any native porch app (a `StaticFiles`, a plain coroutine) as an ASGI 3 app."""

    __slots__ = ("app",)

    def __init__(self, app: NativeApp) -> None:
        self.app = app

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        await asgi_call(self.app, scope, receive, send)


async def asgi_call(app: NativeApp, scope: ASGIScope, receive: Receive, send: Send) -> None:
    """Serve one ASGI connection scope with the native `app`."""
    kind = scope["type"]
    if kind == "http":
        await _http(app, scope, receive, send)
    elif kind == "lifespan":
        await _lifespan(app, scope, receive, send)
    elif kind == "websocket":
        # WebSocket routes need porch's own server, which hands the socket over
        # (docs/websockets.md): refuse the handshake (403) rather than fail.
        await receive()
        await send({"type": "websocket.close", "code": 1008})
    else:
        raise ValueError(f"porch does not serve ASGI {kind!r} scopes")


# lifespan ----------------------------------------------------------------------------------


async def _lifespan(app: NativeApp, scope: ASGIScope, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "lifespan.startup":
            try:
                await _hook(app, "startup")
                _copy_state(app, scope.get("state"))
            except Exception as exc:
                logger.error("Application start-up failed", exc_info=exc)
                await send({"type": "lifespan.startup.failed", "message": _describe(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            try:
                await _hook(app, "shutdown")
            except Exception as exc:
                logger.error("Application shut-down failed", exc_info=exc)
                await send({"type": "lifespan.shutdown.failed", "message": _describe(exc)})
                return
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _hook(app: NativeApp, name: str) -> None:
    hook = getattr(app, name, None)
    if hook is not None:
        await hook()


def _copy_state(app: NativeApp, state: Any) -> None:
    """The server's lifespan state becomes attributes of ``app.state``."""
    target = getattr(app, "state", None)
    if state and target is not None:
        for key, value in state.items():
            setattr(target, key, value)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# request -----------------------------------------------------------------------------------


class ASGIBody(RequestBody):
    """A request body read from ``receive()`` as the app asks for it.

    While a streamed response is sent, `watch` takes over ``receive()``: it feeds the body
    (up to `BODY_HIGH_WATER` unread bytes) and notices ``http.disconnect``.
    """

    __slots__ = ("_receive", "_receiving", "_room", "disconnected")

    def __init__(self, receive: Receive) -> None:
        super().__init__(self, False, BODY_HIGH_WATER)  # its own source: see pause_body
        self._receive = receive
        self._receiving = False
        self._room: asyncio.Event | None = None  # set while `watch` runs
        self.disconnected = False

    # BodySource: back-pressure on the watcher (a direct read pulls only what it needs)
    def pause_body(self) -> None:
        if self._room is not None:
            self._room.clear()

    def resume_body(self) -> None:
        if self._room is not None:
            self._room.set()

    def send_continue(self) -> None:
        pass  # the ASGI server answers 100-continue on the first receive()

    async def read(self) -> bytes:
        if self._room is not None or self._chunks:
            return await super().read()
        while True:
            if self.error is not None:
                raise self.error
            if self.done:
                return b""
            self._receiving = True
            try:
                message = await self._receive()
            finally:
                self._receiving = False
            data = self._take(message)
            if data:
                return data

    def _take(self, message: Message) -> bytes:
        """Record one received message; return its body bytes."""
        if message["type"] == "http.request":
            if not message.get("more_body", False):
                self.done = True
            return bytes(message.get("body", b""))
        if message["type"] == "http.disconnect":
            self.disconnected = True
            self.error = ClientDisconnected("client disconnected")
            raise self.error
        return b""

    @property
    def can_watch(self) -> bool:
        return not self._receiving and not self.disconnected

    async def watch(self, on_disconnect: Callable[[], None]) -> None:
        """Receive until the client disconnects (then call `on_disconnect`)."""
        room = self._room = asyncio.Event()
        room.set()
        try:
            while True:
                await room.wait()
                message = await self._receive()
                try:
                    data = self._take(message)
                except ClientDisconnected as exc:
                    self.abort(exc)
                    self._wake()
                    on_disconnect()
                    return
                if data:
                    self.feed(data)
                if self.done:
                    self._wake()
        finally:
            self._room = None


def build_request(scope: ASGIScope, receive: Receive) -> Request:
    """The porch `Request` for an ASGI ``http`` scope; its body is read from `receive`."""
    raw_path = scope.get("raw_path")
    if raw_path:
        raw_path, _, _ = bytes(raw_path).partition(b"?")
        if not raw_path.isascii():
            raw_path = quote_from_bytes(raw_path, _PATH_SAFE).encode("ascii")
    else:
        raw_path = quote(scope.get("path") or "/", _PATH_SAFE).encode("ascii")
    # The path includes root_path (the app's mount point); routes are relative to it.
    root = quote(scope.get("root_path") or "", _PATH_SAFE).rstrip("/").encode("ascii")
    if root and (raw_path == root or raw_path.startswith(root + b"/")):
        raw_path = raw_path[len(root) :] or b"/"
    headers = [(bytes(name).lower(), bytes(value)) for name, value in scope.get("headers", ())]
    host = None
    length = None
    body_kind = BodyKind.NONE
    for name, value in headers:
        if name == b"host":
            host = value
        elif name == b"content-length" and value.isdigit():
            length = int(value)
            body_kind = BodyKind.LENGTH
        elif name == b"transfer-encoding":
            body_kind = BodyKind.CHUNKED
    request = Request(
        scope.get("method", "GET"),
        raw_path,
        bytes(scope.get("query_string", b"")),
        scope.get("http_version", "1.1"),
        headers,
        True,
        host,
        body_kind,
        length,
        False,
        None,
    )
    client = scope.get("client")
    server = scope.get("server")
    request.conn = ConnectionInfo(
        (client[0], client[1]) if client else None,
        (server[0], server[1] or 0) if server else None,
        scope.get("scheme", "http"),
    )
    request._body = ASGIBody(receive)
    return request


# response ----------------------------------------------------------------------------------


async def _http(app: NativeApp, scope: ASGIScope, receive: Receive, send: Send) -> None:
    request = build_request(scope, receive)
    try:
        response = await app(request)
    except HTTPError as exc:
        response = _error(exc)
    except ClientDisconnected:
        return
    if not isinstance(response, Response):
        raise ResponseError(
            f"the app returned {type(response).__name__} instead of a porch Response"
        )
    if response.stream is not None:
        original = response
        try:
            response = response.for_request(request)
        except HTTPError as exc:
            response = _error(exc)
        except BaseException:
            await close_body(original.stream)
            raise
        if response is not original:
            await close_body(original.stream)
    try:
        await _send_response(request, response, scope, send)
    finally:
        await close_body(response.stream)


def _error(exc: HTTPError) -> Response:
    return Response(exc.detail + "\n", exc.status, exc.headers, "text/plain")


async def _send_response(
    request: Request, response: Response, scope: ASGIScope, send: Send
) -> None:
    status = response.status
    # 1xx responses cannot be sent through ASGI's http.response.start.
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        raise ResponseError(f"the app's response has an invalid status {status!r}")
    status = int(status)  # an IntEnum such as HTTPStatus.OK
    stream = response.stream
    headers = []
    length: bytes | None = None
    for name, value in response.headers._list:
        if name not in FRAMING_HEADERS:  # framing is the ASGI server's business
            headers.append((name.encode("latin-1"), value.encode("latin-1")))
        elif name == "content-length" and stream is not None and value.isdigit():
            length = value.encode("latin-1")
    if type(stream) is FileBody:
        length = b"%d" % stream.count
    elif stream is None and body_allowed(status):
        length = b"%d" % len(response.body)
    if length is not None and body_allowed(status):
        headers.append((b"content-length", length))
    start = {"type": "http.response.start", "status": status, "headers": headers}
    if request.method == "HEAD" or not body_allowed(status):
        await send(start)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if stream is None:
        await send(start)
        await send({"type": "http.response.body", "body": response.body, "more_body": False})
        return
    if type(stream) is FileBody and _whole_file(stream, scope):
        await send(start)
        await send({"type": "http.response.pathsend", "path": stream.file.name})
        return
    await send(start)
    await _send_stream(request, stream, response.charset, send)


def _whole_file(body: FileBody, scope: ASGIScope) -> bool:
    """The server can send `body` by path: it supports pathsend and the range is the file."""
    extensions = scope.get("extensions") or {}
    name = getattr(body.file, "name", None)
    if "http.response.pathsend" not in extensions or not isinstance(name, str):
        return False
    if body.offset != 0 or not os.path.isabs(name):
        return False
    return os.fstat(body.file.fileno()).st_size == body.count


async def _send_stream(
    request: Request,
    stream: AsyncIterable[bytes | str] | Iterable[bytes | str] | FileBody,
    charset: str,
    send: Send,
) -> None:
    """Send the pieces of `stream`; stop quietly if the client goes away meanwhile."""
    body = request._body
    task = asyncio.current_task()
    watcher = None
    state = {"sending": True, "gone": False}

    def on_disconnect() -> None:
        state["gone"] = True
        if state["sending"] and task is not None:
            task.cancel()

    if isinstance(body, ASGIBody) and body.can_watch:
        watcher = asyncio.get_running_loop().create_task(body.watch(on_disconnect))
    pieces = iterate_body(stream)
    try:
        async for piece in pieces:
            if isinstance(piece, str):
                piece = piece.encode(charset)
            if piece:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        state["sending"] = False
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not state["gone"] or task is None:
            raise
        task.uncancel()
    except ClientDisconnected:
        pass  # the stream read the request body, and the client went away meanwhile
    finally:
        state["sending"] = False
        await pieces.aclose()
        if watcher is not None:
            watcher.cancel()
            try:
                await watcher
            except asyncio.CancelledError:
                pass
