"""One asyncio Protocol per HTTP/1.1 connection, running the native app contract.

The protocol hands received bytes to the sans-IO parser and queues the requests it returns.
Requests are answered strictly in order. The app runs in a task (`porch.tasks.start_task`):
scheduled for a lone request, so the loop reads every ready connection before it answers
any; started eagerly for pipelined ones (Python 3.12+), whose responses then leave in one
write. Timeouts are checked by the server's one-second tick (`on_tick`), not by timers per
request.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import socket
from collections import deque
from collections.abc import AsyncIterable, Coroutine, Iterable
from typing import Any, cast

from porch.errors import ClientDisconnected, HTTPError, ProtocolError, ResponseError
from porch.http import END, RequestParser
from porch.http.writer import (
    CONTINUE,
    body_allowed,
    chunk,
    error_response,
    last_chunk,
    render_head,
)
from porch.request import ConnectionInfo, Request, RequestBody
from porch.response import FileBody, Response, close_body, internal_error, iterate_body
from porch.server.accesslog import escape
from porch.server.flow import FlowControl
from porch.server.forwarding import apply_forwarding
from porch.server.state import ServerState
from porch.tasks import start_task

__all__ = ["HTTPProtocol"]

logger = logging.getLogger("porch.error")

# Body bytes a request may hold unread before the connection stops reading the socket.
BODY_HIGH_WATER = 256 * 1024
# File bodies up to this size are read and written with the head, in one write.
INLINE_FILE_SIZE = 64 * 1024
# Most bytes one sendfile call is asked for; the loop runs other work between calls.
SENDFILE_CHUNK = 16 * 1024 * 1024
_OVERLOADED = error_response(503, "Server overloaded: too many connections")


class HTTPProtocol(asyncio.Protocol):
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.app = state.app
        self.parser = RequestParser(state.limits, Request)
        self.queue: deque[Request] = deque()
        self.current: Request | None = None  # the request being answered
        self.reading: Request | None = None  # the request whose body is arriving
        self.out: list[bytes] = []
        self.error: ProtocolError | None = None  # to answer after the queued requests
        self.closing = False  # no further request will be answered
        self.mark = state.now  # when the current wait (idle, head, body) began
        self.idle_limit = state.config.timeout_head  # a new connection must speak promptly
        self.write_stalled_since = 0.0
        self.sender: asyncio.Task[Any] | None = None  # the task streaming a response body
        self.endless: Response | None = None  # a stream that a graceful shutdown ends
        self.ending = False  # shutdown() cancelled the sender to end that stream
        self.limit_pipeline = state.config.limit_pipeline
        self.queue_full = False
        self.lost: asyncio.Future[None] | None = None  # made when someone waits for it
        self.batch = False  # the requests being answered came pipelined
        self.forwarding = False  # the peer is a trusted proxy whose headers are read
        self.upgraded: Any = None  # the protocol (WebSocket) the connection was handed to

    # asyncio callbacks -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        self.flow = FlowControl(transport)
        state = self.state
        if len(state.connections) >= state.config.limit_connections:
            logger.warning(
                "Connection limit (%d) reached; refusing a connection",
                state.config.limit_connections,
            )
            self.closing = True
            transport.write(_OVERLOADED)
            transport.close()
            return
        state.connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.tls = transport.get_extra_info("sslcontext") is not None
        self.info = ConnectionInfo(
            tuple(peer[:2]) if isinstance(peer, tuple) else None,
            tuple(local[:2]) if isinstance(local, tuple) else None,
            "https" if self.tls else "http",
        )
        if state.config.proxy_headers:
            self.forwarding = state.trusts(self.info.client)
        if state.draining:
            self.shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.state.forget(self)
        self.flow.connection_lost()
        reading = self.reading
        if reading is not None and reading._body is not None:
            reading._body.abort(ClientDisconnected("client disconnected"))
        self.queue.clear()
        if self.sender is not None:
            self.sender.cancel()  # nobody reads the rest: stop producing it now
        lost = self.lost
        if lost is not None and not lost.done():
            lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        was_in_head = parser.in_head
        for event in parser.receive_data(data):
            if type(event) is Request:
                self._on_head(event)
            elif type(event) is bytes:
                self._on_body(event)
            elif event is END:
                self._on_end()
            else:
                assert isinstance(event, ProtocolError)
                self._on_error(event)
        if parser.in_head and not was_in_head:
            self.mark = self.state.now
        self._pump()

    def pause_writing(self) -> None:
        self.write_stalled_since = self.state.now
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()
        self._pump()

    # body source for RequestBody -------------------------------------------------------------

    def pause_body(self) -> None:
        self.flow.pause(FlowControl.BODY)

    def resume_body(self) -> None:
        self.flow.resume(FlowControl.BODY)

    def send_continue(self) -> None:
        if not self.closing:
            self.transport.write(CONTINUE)

    @property
    def disconnected(self) -> bool:
        return self.flow.lost

    def wait_disconnected(self) -> asyncio.Future[None]:
        lost = self.lost
        if lost is None:
            lost = self.lost = self.state.loop.create_future()
            if self.flow.lost:
                lost.set_result(None)
        return lost

    # parser events ---------------------------------------------------------------------------

    def _on_head(self, request: Request) -> None:
        request.conn = self.info
        request._source = self
        if self.forwarding:
            apply_forwarding(request, self.state.trusted_proxies)
        if request.body_kind:
            request._body = RequestBody(self, request.expect_continue, BODY_HIGH_WATER)
            self.reading = request
            self.mark = self.state.now
        else:
            request._body_bytes = b""
        self.queue.append(request)
        if len(self.queue) >= self.limit_pipeline:
            self.queue_full = True
            self.flow.pause(FlowControl.QUEUE)

    def _on_body(self, data: bytes) -> None:
        reading = self.reading
        if reading is not None and reading._body is not None:
            reading._body.feed(data)
            self.mark = self.state.now

    def _on_end(self) -> None:
        reading = self.reading
        if reading is not None:
            if reading._body is not None:
                reading._body.finish()
            self.reading = None

    def _on_error(self, error: ProtocolError) -> None:
        self.error = error
        self.flow.pause(FlowControl.DONE)
        reading = self.reading
        if reading is not None:
            self.reading = None
            if reading is self.current and reading._body is not None:
                reading._body.abort(error)  # the app learns why its body broke off
            elif self.queue and self.queue[-1] is reading:
                self.queue.pop()  # never started: the error reply stands in for it

    # answering requests ----------------------------------------------------------------------

    def _pump(self) -> None:
        """Answer queued requests in order while each completes without waiting."""
        # Pipelined requests are answered eagerly, together, in one write; a lone request
        # is scheduled, so the loop reads every ready connection before it answers any
        # (measured faster on loopback, bench/README.md).
        self.batch = len(self.queue) > 1
        while self.current is None and not self.closing and not self.flow.write_paused:
            if self.queue:
                self._run(self.queue.popleft())
            elif self.error is not None:
                self._send_error(self.error)
            else:
                break
        if self.queue_full and len(self.queue) < self.limit_pipeline:
            self.queue_full = False
            self.flow.resume(FlowControl.QUEUE)
        self._flush()

    def _flush(self) -> None:
        out = self.out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            if not self.flow.lost:
                self.transport.write(data)

    def _run(self, request: Request, app: Any = None) -> None:
        """Answer `request` with the server's app (or `app`, e.g. a health probe)."""
        self.current = request
        call = self._call(request, self.app if app is None else app)
        task = start_task(self.state.loop, call, contextvars.copy_context(), self.batch)
        if not task.done():
            self.state.track(task)
            task.add_done_callback(functools.partial(self._app_done, request))
            return
        # Finished in its first step (Python 3.12+): answered now, in this batch's write.
        if self.upgraded is not None:
            self._upgrade_done(request)
            return
        streaming = self._send(request, task.result())
        if streaming is not None:
            self.state.track(self.state.loop.create_task(self._then_pump(streaming)))

    async def _call(self, request: Request, app: Any) -> Any:
        """The app's response to `request`, or the error response standing in for it."""
        try:
            return await app(request)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # porch cancelled it (forced shutdown): nobody to answer
            return self._error_response(request, exc)  # the app's own CancelledError
        except Exception as exc:
            return self._error_response(request, exc)

    def _app_done(self, request: Request, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        response = task.result()
        if self.upgraded is not None:
            self._upgrade_done(request)
            return
        if self.flow.lost:
            stream = getattr(response, "stream", None)
            if stream is not None:
                self.state.track(self.state.loop.create_task(close_body(stream)))
            return
        streaming = self._send(request, response)
        if streaming is None:
            self._pump()
        else:
            self.state.track(self.state.loop.create_task(self._then_pump(streaming)))

    async def _then_pump(self, sending: Coroutine[Any, Any, None]) -> None:
        """Send a body that needs awaiting, then answer the requests queued behind it."""
        await sending
        self._pump()

    def _error_response(self, request: Request, exc: BaseException) -> Response:
        if isinstance(exc, HTTPError):
            return Response(exc.detail + "\n", exc.status, exc.headers, "text/plain")
        if isinstance(exc, ClientDisconnected):
            return Response(b"", 499)
        logger.error(
            "Exception in app for %s %s", request.method, escape(request.raw_path), exc_info=exc
        )
        return internal_error()

    def _send(self, request: Request, response: Any) -> Coroutine[Any, Any, None] | None:
        """Queue the head (and a bytes body) for writing; return the coroutine that sends
        an iterator or file body, if any."""
        if isinstance(response, Response) and response.stream is None:
            # The common case, kept short: a bytes body with a status that has one, no framing
            # set by the app, and a request without a body.
            status = response.status
            headers = response.headers
            if (
                type(status) is int
                and 200 <= status <= 599
                and status != 204
                and status != 304
                and not headers.framing
                and request._body is None
            ):
                data = response.body
                keep_alive = request.keep_alive and not self.state.draining
                tail = b"content-length: %d\r\n" % len(data)
                if not keep_alive:
                    tail += b"connection: close\r\n"
                elif request.http_version == "1.0":
                    tail += b"connection: keep-alive\r\n"
                try:
                    head = render_head(status, headers._list, self.state.preamble, tail)
                except (ResponseError, UnicodeEncodeError) as exc:
                    logger.error("Cannot send the app's response: %s", exc)
                    return self._send(request, internal_error())
                out = self.out
                out.append(head)
                if data and request.method != "HEAD":
                    out.append(data)
                self._finished(request, status, len(data), keep_alive)
                return None
        return self._send_general(request, response)

    def _send_general(self, request: Request, response: Any) -> Coroutine[Any, Any, None] | None:
        if not isinstance(response, Response):
            logger.error(
                "The app returned %r for %s %s instead of a porch Response",
                type(response).__name__,
                request.method,
                escape(request.raw_path),
            )
            response = internal_error()
        if response.stream is not None:
            response = self._prepare_stream(request, response)
        status = response.status
        if type(status) is not int and (not isinstance(status, int) or isinstance(status, bool)):
            status = 0
        if not 100 <= status <= 599:
            logger.error("The app's response has an invalid status %r", response.status)
            response = internal_error()
        keep_alive = request.keep_alive and not self.state.draining
        body = request._body
        if body is not None and not body.done:
            if body.continue_pending or body.error is not None:
                keep_alive = False  # the client holds its body back, or it broke off
            else:
                body.discard()
        tail, length, keep_alive = _frame(request, response, keep_alive)
        try:
            head = render_head(response.status, response.headers._list, self.state.preamble, tail)
        except (ResponseError, UnicodeEncodeError) as exc:
            logger.error("Cannot send the app's response: %s", exc)
            return self._send(request, internal_error())
        self.out.append(head)
        stream = response.stream
        sends_body = request.method != "HEAD" and body_allowed(response.status)
        if stream is None:
            data = response.body if sends_body else b""
            if data:
                self.out.append(data)
            self._finished(request, response.status, len(data), keep_alive)
            return None
        if not sends_body:
            self.state.track(self.state.loop.create_task(close_body(response.stream)))
            self._finished(request, response.status, 0, keep_alive)
            return None
        self._flush()
        if type(stream) is FileBody and not self.tls:  # sendfile bypasses the TLS layer
            return self._send_file(request, response, stream, keep_alive)
        chunked = length is None and request.http_version == "1.1"
        return self._stream(request, response, stream, chunked, length, keep_alive)

    def _prepare_stream(self, request: Request, response: Response) -> Response:
        """Let the response adapt to the request (ranges, validators); read a small file body
        now so that it leaves with the head in one write."""
        try:
            response = response.for_request(request)
        except Exception as exc:
            return self._error_response(request, exc)
        body = response.stream
        if type(body) is not FileBody or body.count > INLINE_FILE_SIZE:
            return response
        if request.method == "HEAD" or not body_allowed(response.status):
            return response  # sent without a body; the file is closed then
        try:
            data = os.pread(body.file.fileno(), body.count, body.offset)
        except OSError as exc:
            logger.error("Cannot read %r: %s", body.file.name, exc)
            return internal_error()
        finally:
            body.close()
        if len(data) != body.count:
            logger.error("%r shrank while it was being sent", body.file.name)
            return internal_error()
        response.stream = None
        response.body = data
        return response

    async def _send_file(
        self, request: Request, response: Response, body: FileBody, keep_alive: bool
    ) -> None:
        """Send a file range with sendfile, straight from the page cache to the socket."""
        sent = 0
        flow = self.flow
        try:
            await flow.drain_all()  # the head must leave before the file's bytes
            sock = self.transport.get_extra_info("socket")
            out_fd, in_fd = sock.fileno(), body.file.fileno()
            offset, remaining = body.offset, body.count
            while remaining:
                try:
                    n = os.sendfile(out_fd, in_fd, offset, min(remaining, SENDFILE_CHUNK))
                except BlockingIOError:
                    self.write_stalled_since = self.state.now
                    await flow.writable(out_fd)
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    raise ClientDisconnected("client disconnected") from None
                if n == 0:
                    raise ResponseError(f"{body.file.name!r} shrank while it was being sent")
                offset += n
                remaining -= n
                sent += n
                await asyncio.sleep(0)  # let other connections in between large sends
        except ClientDisconnected:
            keep_alive = False
        except Exception as exc:
            if not flow.lost:
                logger.error(
                    "Sending a file to %s %s failed: %s",
                    request.method,
                    escape(request.raw_path),
                    exc,
                )
            keep_alive = False
        finally:
            body.close()
            flow.release()
        self._finished(request, response.status, sent, keep_alive)

    async def _stream(
        self,
        request: Request,
        response: Response,
        stream: AsyncIterable[bytes | str] | Iterable[bytes | str],
        chunked: bool,
        length: int | None,
        keep_alive: bool,
    ) -> None:
        sent = 0
        write = self.transport.write
        flow = self.flow
        charset = response.charset
        task = self.sender = asyncio.current_task()
        if response.ends_at_shutdown and length is None:  # its end is wherever we stop
            if self.state.draining:  # asked for while the server stops: it ends at once
                self.sender = None
                return await self._end_now(request, response, chunked)
            self.endless = response
        try:
            async for piece in iterate_body(stream):
                if isinstance(piece, str):
                    piece = piece.encode(charset)
                if not piece:
                    continue
                sent += len(piece)
                if length is not None and sent > length:
                    raise ResponseError(
                        f"streamed body is longer than its content-length {length}"
                    )
                write(chunk(piece) if chunked else piece)
                if flow.write_paused or flow.lost:
                    await flow.drain()
            if length is not None and sent != length:
                raise ResponseError(f"streamed {sent} bytes for a content-length of {length}")
            if chunked:
                write(last_chunk(getattr(stream, "trailers", None)))
        except ClientDisconnected:
            keep_alive = False
        except asyncio.CancelledError:
            if not self._ended_by_shutdown(task, chunked):
                raise
            keep_alive = False
        except Exception as exc:
            # The head is out: the only honest signal left is an incomplete body.
            if not flow.lost:
                logger.error(
                    "Exception while streaming the response to %s %s",
                    request.method,
                    escape(request.raw_path),
                    exc_info=exc,
                )
            keep_alive = False
        finally:
            self.sender = self.endless = None
            await close_body(response.stream)
        self._finished(request, response.status, sent, keep_alive)

    def _ended_by_shutdown(self, task: asyncio.Task[Any] | None, chunked: bool) -> bool:
        """Whether shutdown() cancelled `task` to end an endless stream; if so the task is
        un-cancelled and the body's end framed: a complete response, then the close."""
        if not self.ending or self.flow.lost or task is None:
            return False
        task.uncancel()
        if chunked:
            self.transport.write(last_chunk(None))
        return True

    async def _end_now(self, request: Request, response: Response, chunked: bool) -> None:
        """An endless stream's response, ended before its first event: the server stops."""
        if chunked:
            self.transport.write(last_chunk(None))
        await close_body(response.stream)
        self._finished(request, response.status, 0, False)

    def _finished(self, request: Request, status: int, size: int, keep_alive: bool) -> None:
        self.state.requests += 1
        log = self.state.access_log
        if log is not None:
            log(request, status, size, 0.0)
        self.current = None
        if keep_alive and not self.closing:
            self.mark = self.state.now
            self.idle_limit = self.state.config.timeout_keep_alive
            return
        self.closing = True
        self.flow.pause(FlowControl.DONE)
        self._flush()
        self.transport.close()

    def _send_error(self, error: ProtocolError) -> None:
        self.error = None
        self.closing = True
        self.out.append(error_response(error.status, error.detail, self.state.preamble))
        self._flush()
        self.transport.close()

    # protocol upgrade ------------------------------------------------------------------------

    def take_over(self, protocol: Any, head: bytes) -> None:
        """Write `head` (the 101 response) and hand the connection to `protocol` (a
        `porch.websocket` connection), which takes the bytes that followed the request and
        resumes reading. From now on the server's tick and shutdown reach `protocol`."""
        self.upgraded = protocol
        self.closing = True
        self._flush()
        self.transport.write(head)
        if self.current is not None:
            self._log_upgrade(self.current)
        protocol.on_close = self._upgraded_closed
        state = self.state
        state.connections.add(protocol)
        state.connections.discard(self)
        self.transport.set_protocol(protocol)
        protocol.start(self.parser.upgrade_data or b"", self.flow.write_paused)

    def _log_upgrade(self, request: Request) -> None:
        """The handshake is answered: the request counts as done with 101."""
        self.state.requests += 1
        log = self.state.access_log
        if log is not None:
            log(request, 101, 0, 0.0)

    def _upgraded_closed(self) -> None:
        """The connection handed over has closed: the upgrade request's client is gone."""
        self.flow.connection_lost()
        lost = self.lost
        if lost is not None and not lost.done():
            lost.set_result(None)

    def _upgrade_done(self, request: Request) -> None:
        """The app that took the connection over returned: close what it left open."""
        self.current = None
        self.upgraded.app_finished()

    # timeouts and shutdown -------------------------------------------------------------------

    def on_tick(self, now: float) -> None:
        """Enforce the timeouts; called about once a second by the server."""
        if self.closing:
            return
        config = self.state.config
        if self.flow.write_paused:
            if now - self.write_stalled_since > config.timeout_write:
                logger.info("Closing a connection whose client stopped reading")
                self.transport.abort()
            return
        if self.current is None and not self.queue:
            if self.parser.in_head:
                if now - self.mark > config.timeout_head:
                    self.closing = True
                    self.out.append(error_response(408, "Request timeout", self.state.preamble))
                    self._flush()
                    self.transport.close()
                return
            # Idle, or draining the body of a request already answered.
            limit = self.idle_limit if self.reading is None else config.timeout_body
            if now - self.mark > limit:
                self.closing = True
                self.transport.close()
            return
        reading = self.reading
        if (
            reading is not None
            and reading._body is not None
            and reading._body.waiting
            and not self.flow.read_paused
            and now - self.mark > config.timeout_body
        ):
            reading._body.abort(ProtocolError(408, "Timed out waiting for the request body"))

    def shutdown(self) -> None:
        """Stop taking requests: close now if idle, else after the request in progress.

        A connection busy since the last tick may have a request on its way (a client reuses
        a keep-alive connection at once; a new one writes right after connecting): it gets
        until the next tick, and a request that arrives meanwhile is answered with close.
        Without this, a rolling restart under load fails requests that were already sent.
        """
        if self.current is None and not self.queue and self.reading is None:
            if self.parser.in_head or self.mark == self.state.now:
                self.idle_limit = 0.0  # on_tick closes it at the next tick if still idle
                return
            self.closing = True
            self.transport.close()
            return
        sender = self.sender
        if self.endless is not None and sender is not None and not self.ending:
            self.ending = True
            sender.cancel()  # an event stream ends now: _stream frames its end and closes
        # Otherwise the response in progress goes out with "connection: close"
        # (state.draining), and the connection closes after it.


def _frame(
    request: Request, response: Response, keep_alive: bool
) -> tuple[bytes, int | None, bool]:
    """Decide the framing lines of a response: (lines, declared length of a streamed or file
    body, keep-alive)."""
    length = None
    if response.headers.framing:
        length, keep_alive = _framing_headers(response, keep_alive)
    stream = response.stream
    if type(stream) is FileBody:
        length = stream.count
    status = response.status
    if stream is None:
        tail = b"content-length: %d\r\n" % len(response.body) if body_allowed(status) else b""
    elif length is not None:
        tail = b"content-length: %d\r\n" % length
    elif not body_allowed(status) or request.method == "HEAD":
        tail = b""
    elif request.http_version == "1.1":
        tail = b"transfer-encoding: chunked\r\n"
    else:
        tail = b""
        keep_alive = False  # HTTP/1.0 without a length: the close ends the body
    if not keep_alive:
        tail += b"connection: close\r\n"
    elif request.http_version == "1.0":
        tail += b"connection: keep-alive\r\n"
    return tail, length, keep_alive


def _framing_headers(response: Response, keep_alive: bool) -> tuple[int | None, bool]:
    """Take the framing headers an app set out of its response; return (its content-length,
    keep-alive). The server frames every response itself."""
    length = None
    kept = []
    for name, value in response.headers._list:
        if name == "content-length":
            if response.stream is not None and value.isdigit():
                length = int(value)
        elif name == "connection":
            if "close" in value.lower():
                keep_alive = False
        elif name != "transfer-encoding":
            kept.append((name, value))
    response.headers._list = kept
    response.headers.framing = False
    return length, keep_alive
