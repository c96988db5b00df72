"""Host an unmodified ASGI app (FastAPI, Starlette, Django's ASGIHandler, ...) on porch.

`ASGIHost` is a native porch app: the server hands it one `Request` and awaits one
`Response`, as for any porch app, so keep-alive, pipelining, limits and timeouts are the
server's own. Per request it builds the ``http`` scope (ASGI 3, spec 2.3, as uvicorn) and
runs the app in a task of its own, as ASGI apps expect (anyio's cancel scopes need a current
task; FastAPI's background tasks run after the response):

- A response the app completes (``more_body`` false) leaves as one bytes body at once, even
  if the app runs on; one whose first body message has ``more_body`` is streamed: the head
  goes out with that chunk and later chunks follow as they come. `send` waits while more
  than `STREAM_HIGH_WATER` bytes are unsent, so a slow client slows the app instead of
  growing a buffer.
- ``receive()`` yields the body as it arrives (``more_body``), then ``http.disconnect`` once
  the response is complete or the client has gone. A ``send`` after the client has gone
  raises `porch.ClientDisconnected`, an `OSError`, as the spec asks.
- ``http.response.pathsend`` sends a file with sendfile.
- Misuse by the app (a body before the start, two starts, a wrong message) is logged and
  answered with a 500 when the head has not left, or ends the connection when it has:
  never a hang.

The ``lifespan`` scope is run by `startup()` / `shutdown()`, which the server calls; the
state the app fills in at startup is shallow-copied into every request's scope.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from porch.datastructures import FRAMING_HEADERS
from porch.errors import ClientDisconnected, ConfigError, ProtocolError, ResponseError
from porch.http.writer import check_header
from porch.interfaces.asgi_ws import serve_websocket
from porch.interfaces.hosted import complete_response, streamed_response
from porch.request import Request
from porch.response import FileBody, Response, internal_error
from porch.tasks import start_task
from porch.websocket import is_websocket

__all__ = ["ASGIHost", "STREAM_HIGH_WATER", "asgi2_to_asgi3"]

logger = logging.getLogger("porch.error")

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI3App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]

# Unsent response bytes above which the app's `send` waits for the client.
STREAM_HIGH_WATER = 256 * 1024

# Fields a trailer may not carry (RFC 9110 6.5.1): framing, routing, controls, auth.
_NOT_TRAILERS = frozenset(
    (
        "content-length",
        "transfer-encoding",
        "content-type",
        "content-encoding",
        "content-range",
        "host",
        "trailer",
        "te",
        "connection",
        "cache-control",
        "expect",
        "set-cookie",
        "authorization",
        "www-authenticate",
    )
)
# Checked (name, value) header pairs, decoded, with their kind; bounded, filled as apps send
# them. A kind says whether the field frames the body: Content-Length, or another.
_LENGTH = 1
_FRAMING = 2
_checked: dict[tuple[bytes, bytes], tuple[tuple[str, str], int]] = {}
_CHECKED_MAX = 4096


def asgi2_to_asgi3(app: Callable[[dict[str, Any]], Any]) -> ASGI3App:
    """An ASGI 2 app (``app(scope)`` returns ``instance(receive, send)``) as ASGI 3."""

    async def asgi3(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        instance = app(scope)
        await instance(receive, send)

    return asgi3


class ASGIHost:
    """Serve the ASGI 3 `app` as a native porch app.

    root_path: the URL prefix the app is mounted at behind a proxy (the ``root_path`` key;
        a path without it gets it prepended, as the app's URLs are built with it).
    lifespan: ``auto`` runs the lifespan scope and carries on when the app does not
        support it; ``on`` makes that an error; ``off`` never runs it.
    """

    __porch_native__ = True

    def __init__(
        self,
        app: ASGI3App,
        *,
        root_path: str = "",
        lifespan: str = "auto",
        timeout_lifespan: float = 30.0,
    ) -> None:
        if lifespan not in ("auto", "on", "off"):
            raise ConfigError(f"lifespan must be auto, on or off; got {lifespan!r}")
        self.app = app
        self.root_path = root_path.rstrip("/")
        self._root_bytes = self.root_path.encode("utf-8")
        self.lifespan_mode = lifespan
        self.timeout_lifespan = timeout_lifespan
        self.state: dict[str, Any] = {}
        self._lifespan: _Lifespan | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # lifespan --------------------------------------------------------------------------

    async def startup(self) -> None:
        if self.lifespan_mode == "off":
            return
        lifespan = _Lifespan(self.app, self.state, self.lifespan_mode == "on")
        if await lifespan.startup():
            self._lifespan = lifespan

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._lifespan is not None:
            await self._lifespan.shutdown(self.timeout_lifespan)
            self._lifespan = None

    # requests --------------------------------------------------------------------------

    def scope(self, request: Request) -> dict[str, Any]:
        """The ASGI ``http`` scope of `request`."""
        raw_path = request.raw_path
        path = request.path
        root = self._root_bytes
        if root and raw_path != root and not raw_path.startswith(root + b"/"):
            raw_path = root + raw_path
            path = self.root_path + path
        conn = request.conn
        server = conn.server if conn is not None else None
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": request.http_version,
            "method": request.method,
            "scheme": request.scheme,
            "path": path,
            "raw_path": raw_path,
            "query_string": request.query_string,
            "root_path": self.root_path,
            "headers": request.raw_headers,
            "client": request.client,
            "server": server,
            "state": self.state.copy(),
            "extensions": {"http.response.pathsend": {}, "http.response.trailers": {}},
        }

    async def __call__(self, request: Request) -> Response:
        if request.upgrade is not None and is_websocket(request):
            return await serve_websocket(self, request)
        exchange = _Exchange(request)
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Response] = loop.create_future()
        exchange.ready = ready
        return await self.run_until_ready(self._run(exchange), ready)

    async def run_until_ready(
        self, run: Coroutine[Any, Any, None], ready: asyncio.Future[Response]
    ) -> Response:
        """Start the app's `run` and return the response it makes `ready`."""
        # The app runs in a task of its own from its first step: ASGI apps (anyio, task
        # groups, cancel scopes) need a current task, and may run on after their response.
        task = start_task(asyncio.get_running_loop(), run, contextvars.copy_context())
        if not task.done():
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            return await ready
        except asyncio.CancelledError:
            task.cancel()
            raise

    async def _run(self, exchange: _Exchange) -> None:
        error: BaseException | None = None
        try:
            await self.app(self.scope(exchange.request), exchange.receive, exchange.send)
        except asyncio.CancelledError as exc:
            error = exc
            raise
        except Exception as exc:
            error = exc
        finally:
            exchange.app_ended(error)


class _Exchange:
    """One request's ``receive`` / ``send`` pair and the response they build."""

    __slots__ = (
        "request",
        "ready",
        "status",
        "headers",
        "framing",
        "length",
        "trailer_fields",
        "body_finished",
        "chunks",
        "buffered",
        "complete",
        "file",
        "body_done",
        "body_error",
        "streaming",
        "gone",
        "ended",
        "error",
        "_wake",
        "_drain",
        "_done",
    )

    def __init__(self, request: Request) -> None:
        self.request = request
        self.ready: asyncio.Future[Response]  # the response, once the head may go out
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.framing = False
        self.length: tuple[str, str] | None = None  # the app's Content-Length field
        self.trailer_fields: list[tuple[str, str]] | None = None  # when trailers were announced
        self.body_finished = False  # the last body message came; its trailers have not
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.complete = False  # the app sent its last body message
        self.file: FileBody | None = None
        self.body_done = False
        self.body_error: ProtocolError | None = None
        self.streaming = False  # the head has been handed to the server
        self.gone = False  # the client left before the response was complete
        self.ended = False  # the app returned or failed
        self.error: BaseException | None = None
        self._wake: asyncio.Future[None] | None = None  # the body stream waits
        self._drain: asyncio.Future[None] | None = None  # the app waits in send()
        self._done: asyncio.Future[None] | None = None  # receive() waits for the end

    # receive ---------------------------------------------------------------------------

    async def receive(self) -> Message:
        request = self.request
        if not self.body_done:
            body = request._body
            if body is None:
                self.body_done = True
                data = request._body_bytes
                return {"type": "http.request", "body": data or b"", "more_body": False}
            try:
                data = await body.read()
            except ProtocolError as exc:
                self.body_done = True
                self.body_error = exc  # answered with its status if the app gives up
                return {"type": "http.disconnect"}
            except ClientDisconnected:
                self.body_done = True
                return {"type": "http.disconnect"}
            more = bool(data) and not body.exhausted
            if not more:
                self.body_done = True
            return {"type": "http.request", "body": data, "more_body": more}
        if self.complete or self.gone or request.disconnected:
            return {"type": "http.disconnect"}
        # Nothing more to read: wait until the response is complete or the client leaves.
        done = self._done
        if done is None:
            done = self._done = asyncio.get_running_loop().create_future()
        waiters: set[asyncio.Future[None]] = {done}
        if request._source is not None:
            waiters.add(request._source.wait_disconnected())
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        return {"type": "http.disconnect"}

    # send ------------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        try:
            kind = message["type"]
        except (KeyError, TypeError):
            kind = None
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("the ASGI app sent 'http.response.start' twice")
            self._start(message)
            return
        if self.gone or self.request.disconnected:
            self.gone = True
            raise ClientDisconnected("client disconnected")
        if kind == "http.response.body":
            await self._body(message)
        elif kind == "http.response.trailers":
            self._trailers(message)
        elif kind == "http.response.pathsend":
            if self.status is None or self.complete or self.chunks:
                raise RuntimeError(
                    "'http.response.pathsend' must follow 'http.response.start' directly"
                )
            self._pathsend(message.get("path"))
            self._set_complete()
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} for an HTTP request")

    async def _body(self, message: Message) -> None:
        if self.status is None:
            raise RuntimeError(
                "the ASGI app sent 'http.response.body' before 'http.response.start'"
            )
        if self.complete or self.body_finished:
            raise RuntimeError("the ASGI app sent a body after its response was complete")
        body = message.get("body", b"")
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(f"ASGI response body must be bytes, not {type(body).__name__}")
        if body:
            self.chunks.append(bytes(body))
            self.buffered += len(body)
        more = message.get("more_body", False)
        if not more:
            if self.trailer_fields is None:
                self._set_complete()
                return
            self.body_finished = True  # the trailers follow: the body must be chunked
        if not self.streaming:
            self.streaming = True  # the head goes out now; the body follows as it comes
            if not self.ready.done():
                self.ready.set_result(self.streaming_response())
        else:
            self._wake_stream()
        if more and self.buffered > STREAM_HIGH_WATER:
            await self._wait_drained()

    def _trailers(self, message: Message) -> None:
        if self.trailer_fields is None or not self.body_finished or self.complete:
            raise RuntimeError(
                "'http.response.trailers' needs 'trailers': true in the start message "
                "and must follow the last body message"
            )
        for name, value in message.get("headers", ()):
            field, _ = _check_field(name, value)
            if field[0] not in _NOT_TRAILERS:
                self.trailer_fields.append(field)
        if not message.get("more_trailers", False):
            self._set_complete()

    def _start(self, message: Message) -> None:
        status = message.get("status")
        if type(status) is not int or not 200 <= status <= 599:
            raise RuntimeError(f"the ASGI app sent an invalid status {status!r}")
        headers = []
        framing = False
        for name, value in message.get("headers", ()):
            try:
                field, kind = _checked[name, value]
            except (KeyError, TypeError):
                field, kind = _check_field(name, value)
            if kind:
                if kind == _LENGTH:
                    self.length = field
                    continue
                framing = True
            headers.append(field)
        self.status = status
        self.headers = headers
        self.framing = framing
        if message.get("trailers", False):
            self.trailer_fields = []

    def _pathsend(self, path: Any) -> None:
        if not isinstance(path, str) or not os.path.isabs(path):
            raise RuntimeError(f"'http.response.pathsend' needs an absolute path, got {path!r}")
        file = open(path, "rb")  # noqa: SIM115 - the server closes it after sending
        try:
            size = os.fstat(file.fileno()).st_size
        except OSError:
            file.close()
            raise
        self.file = FileBody(file, 0, size)

    def _set_complete(self) -> None:
        self.complete = True
        if not self.streaming and not self.ready.done():
            self.ready.set_result(self.response())
        self._wake_stream()
        done = self._done
        if done is not None and not done.done():
            done.set_result(None)

    def _wake_stream(self) -> None:
        wake = self._wake
        if wake is not None:
            self._wake = None
            if not wake.done():
                wake.set_result(None)

    async def _wait_drained(self) -> None:
        drain = self._drain = asyncio.get_running_loop().create_future()
        await drain
        if self.gone:
            raise ClientDisconnected("client disconnected")

    def _release_app(self) -> None:
        drain = self._drain
        if drain is not None:
            self._drain = None
            if not drain.done():
                drain.set_result(None)

    # the response ----------------------------------------------------------------------

    def response(self) -> Response:
        """The whole response, once the app has completed it without streaming."""
        assert self.status is not None
        if self.file is not None:
            return streamed_response(
                self.status, self.headers, self.framing, self.length, self.file
            )
        chunks = self.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks = []
        self.buffered = 0
        return complete_response(
            self.request, self.status, self.headers, self.framing, self.length, body
        )

    def streaming_response(self) -> Response:
        assert self.status is not None
        return streamed_response(
            self.status, self.headers, self.framing, self.length, _BodyStream(self)
        )

    def app_ended(self, error: BaseException | None) -> None:
        """The app's task ended: returned, raised or was cancelled."""
        self.ended = True
        request = self.request
        if error is not None and not isinstance(
            error, ClientDisconnected | asyncio.CancelledError
        ):
            if self.gone or request.disconnected:
                logger.debug("ASGI app ended with %r after the client left", error)
            elif self.body_error is None:
                what = "after its response was complete" if self.complete else "for"
                logger.error(
                    "Exception in ASGI app %s %s %s",
                    what,
                    request.method,
                    request.raw_path.decode("ascii", "replace"),
                    exc_info=error,
                )
            self.error = ResponseError("the ASGI app failed while streaming its response")
        elif not self.complete and not self.gone:
            self.error = ResponseError("the ASGI app returned without completing its response")
        if not self.ready.done():
            self.ready.set_result(self._no_response(error))
        self._wake_stream()
        done = self._done
        if done is not None and not done.done():
            done.set_result(None)

    def _no_response(self, error: BaseException | None) -> Response:
        """What the client gets when the app ended before its head could go out."""
        if isinstance(error, ClientDisconnected):
            return Response(b"", 499)
        body_error = self.body_error
        if body_error is not None:
            return Response(body_error.detail + "\n", body_error.status, None, "text/plain")
        if error is None:
            what = "without starting" if self.status is None else "without completing"
            logger.error("The ASGI app returned %s its response", what)
        return internal_error()


class _BodyStream:
    """The body the server pulls while the app sends ``more_body`` chunks."""

    __slots__ = ("exchange",)

    def __init__(self, exchange: _Exchange) -> None:
        self.exchange = exchange

    @property
    def trailers(self) -> list[tuple[str, str]] | None:
        """Trailer fields the server sends after a chunked body (read at its end)."""
        return self.exchange.trailer_fields

    def __aiter__(self) -> _BodyStream:
        return self

    async def __anext__(self) -> bytes:
        exchange = self.exchange
        while True:
            chunks = exchange.chunks
            if chunks:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                exchange.chunks = []
                exchange.buffered = 0
                exchange._release_app()
                return data
            if exchange.complete:
                raise StopAsyncIteration
            if exchange.error is not None:
                raise exchange.error
            if exchange.ended:
                raise StopAsyncIteration
            wake = exchange._wake = asyncio.get_running_loop().create_future()
            await wake

    async def aclose(self) -> None:
        """The server is done with the body: sent, or the client is gone."""
        exchange = self.exchange
        if not exchange.complete:
            exchange.gone = True
            exchange._release_app()
            done = exchange._done
            if done is not None and not done.done():
                done.set_result(None)


class _Lifespan:
    """The ``lifespan`` scope, run in a task of its own for the whole life of the server."""

    def __init__(self, app: ASGI3App, state: dict[str, Any], required: bool) -> None:
        self.app = app
        self.state = state
        self.required = required
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.replies: asyncio.Queue[Message | BaseException | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self.inbox.get, self._send)
        except BaseException as exc:  # noqa: B036 - reported to startup/shutdown instead
            await self.replies.put(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            await self.replies.put(None)

    async def _send(self, message: Message) -> None:
        await self.replies.put(message)

    async def startup(self) -> bool:
        """True when the app took part; raises `ConfigError` when its startup failed."""
        self.task = asyncio.get_running_loop().create_task(self._run())
        await self.inbox.put({"type": "lifespan.startup"})
        reply = await self.replies.get()
        if isinstance(reply, dict):
            kind = reply.get("type")
            if kind == "lifespan.startup.complete":
                return True
            if kind == "lifespan.startup.failed":
                message = reply.get("message") or "no reason given"
                raise ConfigError(f"the ASGI app's lifespan startup failed: {message}")
            raise ConfigError(f"the ASGI app answered lifespan.startup with {kind!r}")
        if not self.required:
            if reply is None:
                logger.info("The ASGI app returned from its lifespan scope: running without it")
            else:
                logger.info("The ASGI app does not support lifespan (%r): continuing", reply)
            return False
        if reply is None:
            raise ConfigError("the ASGI app returned from lifespan without completing startup")
        logger.error("Exception in the ASGI app's lifespan startup", exc_info=reply)
        raise ConfigError(f"the ASGI app's lifespan startup raised {reply!r}")

    async def shutdown(self, timeout: float) -> None:
        task = self.task
        assert task is not None
        if task.done():
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        try:
            reply = await asyncio.wait_for(self.replies.get(), timeout)
        except TimeoutError:
            logger.error("The ASGI app's lifespan shutdown took over %s s: cancelled", timeout)
            task.cancel()
            return
        if isinstance(reply, dict) and reply.get("type") == "lifespan.shutdown.failed":
            logger.error("The ASGI app's lifespan shutdown failed: %s", reply.get("message"))
        elif isinstance(reply, BaseException):
            logger.error("Exception in the ASGI app's lifespan shutdown", exc_info=reply)
        elif reply is None:
            logger.error("The ASGI app returned from lifespan without completing shutdown")
        try:
            await asyncio.wait_for(task, timeout)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()


def _check_field(name: Any, value: Any) -> tuple[tuple[str, str], int]:
    """A header pair as a checked (name, value) of str, and its kind (0, `_LENGTH` or
    `_FRAMING`); cached."""
    if not isinstance(name, bytes | bytearray) or not isinstance(value, bytes | bytearray):
        raise TypeError(f"ASGI header names and values must be bytes, got {name!r}: {value!r}")
    field = (bytes(name).decode("latin-1").lower(), bytes(value).decode("latin-1"))
    check_header(*field)
    kind = 0
    if field[0] in FRAMING_HEADERS:
        kind = _LENGTH if field[0] == "content-length" else _FRAMING
    if len(_checked) < _CHECKED_MAX:
        _checked[bytes(name), bytes(value)] = (field, kind)
    return field, kind
