"""Host an unmodified WSGI app (Flask, Django, ...) on porch, per PEP 3333.

`WSGIHost` is a native porch app. The environ is built on the event loop; the app runs on a
bounded pool of threads (`threads`), and requests beyond it wait their turn without holding
a thread. Per request:

- ``wsgi.input`` is the body. A body of known length up to `INLINE_BODY` is read before the
  app starts (most forms and JSON); a longer or chunked one is pulled from the connection as
  the app reads it, with the connection's back-pressure: porch never holds a whole upload.
- The response iterable is consumed in the app's thread. Chunks are handed to the loop as
  they are produced; a response whose iterable is exhausted before the loop takes its first
  chunk (the usual Flask or Django response) leaves as one bytes body with a
  Content-Length and one write. A longer stream goes out chunk by chunk, and the app's thread
  waits while more than `STREAM_HIGH_WATER` bytes are unsent, so a slow client slows the app
  instead of growing a buffer. If the client leaves, iteration stops.
- ``close()`` of the iterable is always called, in the app's thread.
- ``start_response`` follows PEP 3333: headers are sent with the first non-empty chunk; a
  second call needs ``exc_info`` and re-raises it once the headers are out. ``write()``
  works. ``wsgi.file_wrapper`` around a regular file is sent with sendfile.
- An exception before the headers are out is logged and answered with a 500; after that it
  can only end the connection, so the client sees an incomplete body, never a false one.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import queue
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, Any
from urllib.parse import unquote_to_bytes

from porch.datastructures import FRAMING_HEADERS
from porch.errors import ClientDisconnected, ConfigError, ProtocolError, ResponseError
from porch.http.writer import check_header
from porch.interfaces.hosted import complete_response, streamed_response
from porch.request import Request
from porch.response import FileBody, Response, internal_error

__all__ = ["FileWrapper", "INLINE_BODY", "STREAM_HIGH_WATER", "WSGIHost"]

logger = logging.getLogger("porch.error")

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], None]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# A body of known length up to this size is read before the app runs.
INLINE_BODY = 64 * 1024
# Unsent response bytes above which the app's thread waits for the client.
STREAM_HIGH_WATER = 256 * 1024
_STATUS = re.compile(r"([1-5][0-9][0-9]) [^\r\n]*")
_HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade")
)
# "user-agent" -> "HTTP_USER_AGENT", filled as headers are seen; bounded.
_environ_keys: dict[bytes, str] = {}
_ENVIRON_KEYS_MAX = 1024


class FileWrapper:
    """``wsgi.file_wrapper``: a file the server sends with sendfile when the app returns
    this wrapper itself; otherwise it iterates in blocks like any iterable."""

    def __init__(self, filelike: IO[bytes], blksize: int = 64 * 1024) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while data := read(self.blksize):
            yield data

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()


class WSGIHost:
    """Serve the WSGI `app` as a native porch app.

    root_path: the URL prefix the app is mounted at (``SCRIPT_NAME``); a request path that
        still starts with it (the proxy did not strip it) has it removed from ``PATH_INFO``.
    threads: the most requests the app runs at once (the size of its thread pool).
    multiprocess: the value of ``wsgi.multiprocess`` (True with several workers).
    """

    __porch_native__ = True

    def __init__(
        self,
        app: WSGIApp,
        *,
        root_path: str = "",
        threads: int = 16,
        multiprocess: bool = False,
    ) -> None:
        if threads < 1:
            raise ConfigError(f"a WSGI app needs at least one thread; got {threads}")
        self.app = app
        self.root_path = root_path.rstrip("/")
        self._root_bytes = self.root_path.encode("utf-8")
        self.threads = threads
        self.multiprocess = multiprocess
        self._pool: _Threads | None = None

    @property
    def pool(self) -> _Threads:
        pool = self._pool
        if pool is None:
            pool = self._pool = _Threads(self.threads, "porch-wsgi")
        return pool

    async def startup(self) -> None:
        self.pool  # noqa: B018 - threads are made on demand; the pool exists from now

    async def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # Requests in flight had the graceful period; do not block the loop on stragglers.
            pool.shutdown()

    def environ(self, request: Request) -> dict[str, Any]:
        """The PEP 3333 environ of `request`, without ``wsgi.input``."""
        raw_path = request.raw_path
        path = unquote_to_bytes(raw_path) if b"%" in raw_path else raw_path
        # The app is mounted at root_path: a proxy may have stripped it from the path or not.
        script = self.root_path
        root = self._root_bytes
        if root and (path == root or path.startswith(root + b"/")):
            path = path[len(root) :]
        conn = request.conn
        client = conn.client if conn is not None else None
        server = conn.server if conn is not None else None
        if server is not None and len(server) == 2 and server[1] is not None:
            server_name, server_port = str(server[0]), str(server[1])
        else:  # a UNIX socket: the Host header says where the client thinks it is
            server_name, server_port = _split_host(request.host, request.scheme)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": script,
            "PATH_INFO": path.decode("latin-1"),
            "QUERY_STRING": request.query_string.decode("latin-1"),
            "SERVER_NAME": server_name,
            "SERVER_PORT": server_port,
            "SERVER_PROTOCOL": "HTTP/" + request.http_version,
            "RAW_URI": (
                raw_path + b"?" + request.query_string if request.query_string else raw_path
            ).decode("latin-1"),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.scheme,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": self.multiprocess,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
        }
        if client is not None:
            environ["REMOTE_ADDR"] = client[0]
            environ["REMOTE_PORT"] = str(client[1])
        for name, value in request.raw_headers:
            key = _environ_keys.get(name)
            if key is None:
                if b"_" in name:
                    continue  # "x_user" would pass for "x-user": dropped, as nginx does
                key = _environ_key(name)
            if key in environ and key.startswith("HTTP_"):
                separator = "; " if key == "HTTP_COOKIE" else ", "
                environ[key] += separator + value.decode("latin-1")
            else:
                environ[key] = value.decode("latin-1")
        if request.content_length is None:
            environ.pop("CONTENT_LENGTH", None)
        else:
            environ["CONTENT_LENGTH"] = str(request.content_length)
        return environ

    async def __call__(self, request: Request) -> Response:
        environ = self.environ(request)
        loop = asyncio.get_running_loop()
        body = request._body
        if body is None:
            environ["wsgi.input"] = io.BytesIO(request._body_bytes or b"")
        elif request.content_length is not None and request.content_length <= INLINE_BODY:
            try:
                environ["wsgi.input"] = io.BytesIO(await request.body())
            except ProtocolError as exc:
                return Response(exc.detail + "\n", exc.status, None, "text/plain")
        else:
            environ["wsgi.input"] = _Input(request, loop)
        call = _Call(request, loop)
        self.pool.submit(call.run, self.app, environ)
        try:
            return await call.ready
        except asyncio.CancelledError:
            call.leave()
            raise


class _Threads:
    """At most `size` threads running submitted calls in order, made as they are needed.
    (Lighter than `concurrent.futures`: no future per call; results travel by `_Call`.)"""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self.calls: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self.threads: list[threading.Thread] = []
        self.idle = 0
        self.lock = threading.Lock()

    def submit(self, func: Callable[..., None], *args: Any) -> None:
        self.calls.put((func, args))
        if self.idle == 0 and len(self.threads) < self.size:  # idle: a hint, read unlocked
            with self.lock:
                if self.idle == 0 and len(self.threads) < self.size:
                    thread = threading.Thread(
                        target=self._work, name=f"{self.name}-{len(self.threads)}", daemon=True
                    )
                    self.threads.append(thread)
                    thread.start()

    def _work(self) -> None:
        calls = self.calls
        lock = self.lock
        while True:
            with lock:
                self.idle += 1
            item = calls.get()
            with lock:
                self.idle -= 1
            if item is None:
                return
            func, args = item
            func(*args)

    def shutdown(self) -> None:
        """Let every thread finish its call and end; calls still queued are not run."""
        for _ in self.threads:
            self.calls.put(None)


class _Call:
    """One request's run of the app in a thread, and the hand-over of its response."""

    def __init__(self, request: Request, loop: asyncio.AbstractEventLoop) -> None:
        self.request = request
        self.loop = loop
        self.ready: asyncio.Future[Response] = loop.create_future()
        self.lock = threading.Lock()
        self.drained: threading.Condition | None = None  # made when a writer must wait
        # set by the app's thread
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.framing = False
        self.length: tuple[str, str] | None = None  # the app's Content-Length field
        self.headers_sent = False
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.file: FileBody | None = None
        self.ended = False
        self.error: BaseException | None = None
        self.scheduled = False
        # set by the loop
        self.gone = False
        self.wake: asyncio.Future[None] | None = None

    # the app's thread ------------------------------------------------------------------

    def run(self, app: WSGIApp, environ: dict[str, Any]) -> None:
        if self.gone:
            return  # the client left while the request waited for a thread
        result: Any = None
        try:
            result = app(environ, self.start_response)
            if type(result) is FileWrapper and self._send_file(result):
                return
            for piece in result:
                if not isinstance(piece, bytes):
                    raise TypeError(f"a WSGI app must yield bytes, not {type(piece).__name__}")
                if piece:
                    self.write(piece)
            self._end(None)
        except ClientDisconnected:
            self._end(None)
        except BaseException as exc:  # noqa: B036 - reported, then the thread goes on
            self._end(exc)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    logger.error("Exception in the WSGI response's close()", exc_info=exc)

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: ExcInfo | None = None,
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.headers_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise RuntimeError("start_response() called again without exc_info")
        match = _STATUS.fullmatch(status) if isinstance(status, str) else None
        if match is None:
            raise ResponseError(f"invalid WSGI status {status!r} (expected e.g. '200 OK')")
        if not isinstance(headers, list):
            raise TypeError(f"WSGI response headers must be a list, not {type(headers).__name__}")
        fields = []
        framing = False
        length = None
        for name, value in headers:
            check_header(name, value)
            lname = name.lower()
            if lname in _HOP_BY_HOP:
                raise ResponseError(f"a WSGI app may not set the hop-by-hop header {name!r}")
            if lname in FRAMING_HEADERS:
                if lname == "content-length":
                    length = (lname, value)
                    continue
                framing = True
            fields.append((lname, value))
        code = int(match.group(1))
        if code < 200:
            raise ResponseError(f"a WSGI app may not send an informational status {status!r}")
        self.status = code
        self.headers = fields
        self.framing = framing
        self.length = length
        return self.write

    def write(self, data: bytes) -> None:
        """Hand a chunk to the loop (also the ``write()`` callable of start_response)."""
        if self.status is None:
            raise RuntimeError("the WSGI app sent body bytes before calling start_response()")
        if not data:
            return
        with self.lock:
            if self.gone:
                raise ClientDisconnected("client disconnected")
            self.headers_sent = True
            self.chunks.append(data)
            self.buffered += len(data)
            schedule = not self.scheduled
            self.scheduled = True
        if schedule:
            self._schedule()
        if self.buffered > STREAM_HIGH_WATER:
            with self.lock:
                drained = self.drained
                if drained is None:
                    drained = self.drained = threading.Condition(self.lock)
                while self.buffered > STREAM_HIGH_WATER and not self.gone:
                    drained.wait()
            if self.gone:
                raise ClientDisconnected("client disconnected")

    def _send_file(self, wrapper: FileWrapper) -> bool:
        """Hand a regular file over to be sent with sendfile; False if it cannot be."""
        if self.status is None:
            raise RuntimeError("the WSGI app returned before calling start_response()")
        try:
            fd = wrapper.filelike.fileno()
            info = os.fstat(fd)
            offset = wrapper.filelike.tell()
        except (AttributeError, OSError, io.UnsupportedOperation):
            return False
        if not stat.S_ISREG(info.st_mode):
            return False
        count = max(0, info.st_size - offset)
        if self.length is not None and self.length[1].isdigit():
            count = min(count, int(self.length[1]))
        file = os.fdopen(os.dup(fd), "rb")  # ours to close; the app closes its own
        with self.lock:
            self.file = FileBody(file, offset, count)
            self.ended = True
            schedule = not self.scheduled
            self.scheduled = True
        if schedule:
            self._schedule()
        return True

    def _end(self, error: BaseException | None) -> None:
        if error is not None:
            request = self.request
            logger.error(
                "Exception in WSGI app for %s %s",
                request.method,
                request.raw_path.decode("ascii", "replace"),
                exc_info=error,
            )
        with self.lock:
            self.ended = True
            self.error = error
            schedule = not self.scheduled
            self.scheduled = True
        if schedule:
            self._schedule()

    def _schedule(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:  # the loop has closed: nobody to answer
            self.gone = True

    # the loop --------------------------------------------------------------------------

    def _deliver(self) -> None:
        """Runs on the loop after the app's thread produced something."""
        if not self.ready.done():
            with self.lock:
                self.scheduled = False
                response = self._first_response()
            self.ready.set_result(response)
            return
        with self.lock:
            self.scheduled = False
        wake = self.wake
        if wake is not None:
            self.wake = None
            if not wake.done():
                wake.set_result(None)

    def _first_response(self) -> Response:
        """Called with the lock held."""
        if self.status is None or (self.error is not None and not self.headers_sent):
            if self.error is None:
                logger.error("The WSGI app returned without calling start_response()")
            reader = self.request._body
            if reader is not None and isinstance(reader.error, ProtocolError):
                error = reader.error
                return Response(error.detail + "\n", error.status, None, "text/plain")
            return internal_error()
        status, fields, framing, length = self.status, self.headers, self.framing, self.length
        if self.file is not None:
            return streamed_response(status, fields, framing, length, self.file)
        if self.ended and self.error is None:
            chunks = self.chunks
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self.chunks = []
            self.buffered = 0
            return complete_response(self.request, status, fields, framing, length, body)
        return streamed_response(status, fields, framing, length, _BodyStream(self))

    def leave(self) -> None:
        """The response will never be sent (the client left, or the server stops)."""
        with self.lock:
            self.gone = True
            if self.drained is not None:
                self.drained.notify_all()


class _BodyStream:
    """The body the server pulls while the app's thread produces it."""

    __slots__ = ("call",)

    def __init__(self, call: _Call) -> None:
        self.call = call

    def __aiter__(self) -> _BodyStream:
        return self

    async def __anext__(self) -> bytes:
        call = self.call
        while True:
            with call.lock:
                chunks = call.chunks
                if chunks:
                    call.chunks = []
                    call.buffered = 0
                    if call.drained is not None:
                        call.drained.notify_all()
                ended, error = call.ended, call.error
            if chunks:
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if error is not None:
                raise ResponseError("the WSGI app failed while streaming its response")
            if ended:
                raise StopAsyncIteration
            wake = call.wake = call.loop.create_future()
            await wake

    async def aclose(self) -> None:
        call = self.call
        if not call.ended:
            call.leave()


class _Input:
    """``wsgi.input`` for a body that is still arriving: read in the app's thread, pulled
    from the connection chunk by chunk. A body that broke off raises `OSError`."""

    def __init__(self, request: Request, loop: asyncio.AbstractEventLoop) -> None:
        assert request._body is not None
        self._body = request._body
        self._loop = loop
        self._buffer = bytearray()
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        future = asyncio.run_coroutine_threadsafe(self._body.read(), self._loop)
        try:
            data = future.result()
        except ClientDisconnected:
            raise
        except ProtocolError as exc:
            raise ClientDisconnected(f"request body incomplete: {exc.detail}") from None
        if not data:
            self._eof = True
            return False
        self._buffer += data
        return True

    def read(self, size: int | None = -1) -> bytes:
        buffer = self._buffer
        if size is None or size < 0:
            while self._fill():
                pass
            size = len(buffer)
        else:
            while len(buffer) < size and self._fill():
                pass
        data = bytes(buffer[:size])
        del buffer[:size]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        buffer = self._buffer
        limit = None if size is None or size < 0 else size
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end >= 0:
                end += 1
                break
            if limit is not None and len(buffer) >= limit:
                end = limit
                break
            start = len(buffer)
            if not self._fill():
                end = len(buffer)
                break
        if limit is not None:
            end = min(end, limit)
        data = bytes(buffer[:end])
        del buffer[:end]
        return data

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


def _environ_key(name: bytes) -> str:
    if name == b"content-type":
        key = "CONTENT_TYPE"
    elif name == b"content-length":
        key = "CONTENT_LENGTH"
    else:
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
    if len(_environ_keys) < _ENVIRON_KEYS_MAX:
        _environ_keys[name] = key
    return key


def _split_host(host: bytes | None, scheme: str) -> tuple[str, str]:
    """(name, port) from a Host header value, with the scheme's port when it has none."""
    text = (host or b"localhost").decode("latin-1")
    default = "443" if scheme == "https" else "80"
    if text.startswith("["):
        name, _, rest = text.partition("]")
        return name + "]", rest[1:] if rest.startswith(":") else default
    name, sep, port = text.rpartition(":")
    return (name, port) if sep else (text, default)
