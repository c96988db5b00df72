"""The asyncio side of one WebSocket connection, after the HTTP protocol has handed it over.

`websockets`' sans-IO `ServerProtocol` turns bytes into frames and frames into bytes; this
protocol moves those bytes, assembles frames into messages for the app and keeps everything
bounded:

- Received messages wait in a queue of at most ``ws_max_queue``; when it is full the socket
  is no longer read until the app takes some, so a slow app never makes porch buffer without
  bound (each message is itself at most ``ws_max_size`` bytes, else close 1009).
- `send` waits while the transport's write buffer is above its high-water mark (a client
  that does not read slows the app down instead of growing the buffer), and a client that
  reads nothing for ``timeout_write`` seconds is cut off.
- Text is checked as UTF-8 fragment by fragment: invalid text closes with 1007 at once.
- Keep-alive pings, their timeout (1011), and the closing handshake's timeout are checked by
  the server's one-second tick (`on_tick`), like the HTTP timeouts: no timer per connection.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, cast

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

__all__ = ["ServerLike", "WebSocketDisconnect", "WebSocketProtocol"]

logger = logging.getLogger("porch.error")

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_PONG = Opcode.PONG
_OPEN = State.OPEN
_utf8_decoder = codecs.getincrementaldecoder("utf-8")


class WebSocketDisconnect(Exception):
    """The WebSocket connection is closed: `code` (1000 normal, 1001 going away, 1006 gone
    without a close frame, ...) and `reason` say how. Raised by `receive()` and `send()`."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(f"WebSocket closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class ServerLike(Protocol):
    """What a WebSocket connection needs of the server that runs it (`ServerState`)."""

    config: Any
    now: float
    draining: bool
    connections: Any

    def forget(self, conn: Any) -> None: ...


class WebSocketProtocol(asyncio.Protocol):
    """One accepted WebSocket: frames in and out, the app's message queue, timeouts."""

    def __init__(
        self, transport: asyncio.Transport, server: ServerLike, proto: ServerProtocol
    ) -> None:
        config = server.config
        self.transport = transport
        self.server = server
        self.proto = proto
        self.messages: deque[str | bytes] = deque()
        self.max_queue: int = config.ws_max_queue
        self.ping_interval: float = config.ws_ping_interval
        self.ping_timeout: float = config.ws_ping_timeout
        self.close_timeout: float = config.ws_close_timeout
        self.write_timeout: float = config.timeout_write
        self.read_paused = False
        self.write_paused = False
        self.write_stalled_since = 0.0
        self.lost = False
        self.eof_sent = False
        self.closing_since: float | None = None  # when we started or answered a close
        self.ping_payload: bytes | None = None  # the keep-alive ping awaiting its pong
        self.ping_sent = server.now
        self.close_code: int | None = None  # as the app sees it, once closed
        self.close_reason = ""
        self._parts: list[Any] | None = None  # fragments of the message being received
        self._decoder: codecs.IncrementalDecoder | None = None
        self._text = False
        self._receiver: asyncio.Future[None] | None = None
        self._drainer: asyncio.Future[None] | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_close: Callable[[], None] | None = None

    # start and asyncio callbacks ---------------------------------------------------------

    def start(self, early: bytes, write_paused: bool) -> None:
        """Called once the 101 is written: take the bytes that came after the handshake and
        read on (the HTTP side may have paused reading on a flood of early bytes)."""
        self.write_paused = write_paused
        if write_paused:
            self.write_stalled_since = self.server.now
        if early:
            self.data_received(early)
        if not self.lost and not self.read_paused:
            self.transport.resume_reading()
        if self.server.draining:
            self.shutdown()

    def data_received(self, data: bytes) -> None:
        proto = self.proto
        proto.receive_data(data)
        for event in proto.events_received():
            frame = cast(Frame, event)  # after the handshake, every event is a frame
            opcode = frame.opcode
            if opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
                if not self._on_data(frame):
                    break
            elif opcode is _PONG:
                if frame.data == self.ping_payload:
                    self.ping_payload = None
        self._write_out()
        if self.closing_since is None and proto.state is not _OPEN:
            self.closing_since = self.server.now
            self._wake_receiver()  # a close frame came: no more messages after the queued ones

    def eof_received(self) -> bool | None:
        self.proto.receive_eof()
        self._write_out()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        proto = self.proto
        try:
            proto.receive_eof()
        except Exception:  # the parser had already finished
            pass
        received = proto.close_rcvd
        if self.close_code is None:
            if received is not None:
                self.close_code, self.close_reason = received.code, received.reason
            else:
                self.close_code = CloseCode.ABNORMAL_CLOSURE
        self.server.forget(self)
        self._wake_receiver()
        drainer = self._drainer
        if drainer is not None and not drainer.done():
            drainer.set_result(None)
        if not self.done.done():
            self.done.set_result(None)
        if self.on_close is not None:
            self.on_close()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_stalled_since = self.server.now

    def resume_writing(self) -> None:
        self.write_paused = False
        drainer = self._drainer
        if drainer is not None:
            self._drainer = None
            if not drainer.done():
                drainer.set_result(None)

    # receiving ---------------------------------------------------------------------------

    def _on_data(self, frame: Frame) -> bool:
        """Add a data frame to the message it belongs to; False if the connection failed."""
        data = frame.data
        if type(data) is not bytes:
            data = bytes(data)
        opcode = frame.opcode
        if frame.fin and opcode is not _CONT:  # a whole message in one frame: the usual case
            if opcode is _TEXT:
                try:
                    self._deliver(data.decode())
                except UnicodeDecodeError as exc:
                    return self._fail(CloseCode.INVALID_DATA, f"invalid UTF-8: {exc.reason}")
            else:
                self._deliver(data)
            return True
        if opcode is not _CONT:  # the first fragment (websockets checks the order)
            self._parts = []
            self._text = opcode is _TEXT
            self._decoder = _utf8_decoder() if self._text else None
        parts = self._parts
        assert parts is not None
        if self._decoder is not None:
            try:
                parts.append(self._decoder.decode(data, frame.fin))
            except UnicodeDecodeError as exc:
                return self._fail(CloseCode.INVALID_DATA, f"invalid UTF-8: {exc.reason}")
        else:
            parts.append(data)
        if frame.fin:
            self._parts = self._decoder = None
            self._deliver("".join(parts) if self._text else b"".join(parts))
        return True

    def _deliver(self, message: str | bytes) -> None:
        messages = self.messages
        messages.append(message)
        if len(messages) >= self.max_queue and not self.read_paused and not self.lost:
            self.read_paused = True
            self.transport.pause_reading()
        self._wake_receiver()

    def _wake_receiver(self) -> None:
        receiver = self._receiver
        if receiver is not None:
            self._receiver = None
            if not receiver.done():
                receiver.set_result(None)

    def _fail(self, code: int, reason: str) -> bool:
        self.proto.fail(code, reason)
        self._write_out()
        return False

    async def receive(self) -> str | bytes:
        """The next message; `WebSocketDisconnect` once the connection is closing and every
        message received before has been taken."""
        messages = self.messages
        while not messages:
            if self.lost or self.proto.state is not _OPEN:
                raise self.disconnect()
            receiver = self._receiver = asyncio.get_running_loop().create_future()
            await receiver
        message = messages.popleft()
        if self.read_paused and len(messages) <= self.max_queue // 2:
            self.read_paused = False
            if not self.lost:
                self.transport.resume_reading()
        return message

    def disconnect(self) -> WebSocketDisconnect:
        """The exception that tells the app how the connection closed."""
        if self.close_code is not None:
            return WebSocketDisconnect(self.close_code, self.close_reason)
        received = self.proto.close_rcvd
        if received is not None:
            return WebSocketDisconnect(received.code, received.reason)
        sent = self.proto.close_sent
        if sent is not None:
            return WebSocketDisconnect(sent.code, sent.reason)
        return WebSocketDisconnect(CloseCode.ABNORMAL_CLOSURE)

    # sending -----------------------------------------------------------------------------

    def _write_out(self) -> None:
        for data in self.proto.data_to_send():
            if self.lost or self.eof_sent:
                return
            if data:
                self.transport.write(data)
            else:  # the end of the stream: the server closes the TCP connection first
                self.eof_sent = True
                self.transport.close()

    async def send(self, message: str | bytes) -> None:
        """Send one message; waits while the client is not reading what was sent before."""
        proto = self.proto
        if self.lost or proto.state is not _OPEN:
            raise self.disconnect()
        if isinstance(message, str):
            proto.send_text(message.encode())
        elif isinstance(message, bytes | bytearray | memoryview):
            proto.send_binary(message)
        else:
            raise TypeError(f"a WebSocket message is str or bytes, not {type(message).__name__}")
        self._write_out()
        if self.write_paused:
            await self.drain()

    async def send_fragments(self, pieces: list[str] | list[bytes] | list[str | bytes]) -> None:
        """Send one message in several frames (for large messages produced in parts)."""
        proto = self.proto
        if not pieces:
            raise ValueError("a fragmented message needs at least one piece")
        for index, piece in enumerate(pieces):
            if self.lost or proto.state is not _OPEN:
                raise self.disconnect()
            fin = index == len(pieces) - 1
            data = piece.encode() if isinstance(piece, str) else bytes(piece)
            if index == 0:
                if isinstance(piece, str):
                    proto.send_text(data, fin)
                else:
                    proto.send_binary(data, fin)
            else:
                proto.send_continuation(data, fin)
            self._write_out()
            if self.write_paused:
                await self.drain()

    async def drain(self) -> None:
        """Return once the transport's buffer is below its high-water mark again."""
        while self.write_paused and not self.lost:
            drainer = self._drainer
            if drainer is None:
                drainer = self._drainer = asyncio.get_running_loop().create_future()
            await drainer
        if self.lost:
            raise self.disconnect()

    async def ping(self, data: bytes = b"") -> None:
        proto = self.proto
        if self.lost or proto.state is not _OPEN:
            raise self.disconnect()
        proto.send_ping(data)
        self._write_out()

    def start_close(self, code: int, reason: str) -> None:
        """Send a close frame (once); the client's reply ends the connection."""
        if self.lost:
            return
        if self.proto.state is _OPEN:
            self.proto.send_close(code, reason)
            self.closing_since = self.server.now
            self._write_out()
        # The app wants no more messages: read on, so the client's close frame gets through.
        self.messages.clear()
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with `code` and wait for the closing handshake (bounded by
        ``ws_close_timeout``: the tick cuts the socket after it)."""
        self.start_close(code, reason)
        await asyncio.shield(self.done)

    # the server's tick and shutdown ------------------------------------------------------

    def on_tick(self, now: float) -> None:
        """Enforce the close, write and ping timeouts; send keep-alive pings. Never raises:
        the server's tick serves every connection."""
        if self.lost:
            return
        try:
            self._check_timeouts(now)
        except Exception:
            logger.exception("WebSocket timeout check failed; closing the connection")
            self.transport.abort()

    def _check_timeouts(self, now: float) -> None:
        if self.closing_since is not None:
            if now - self.closing_since > self.close_timeout:
                self.transport.abort()
            return
        if self.write_paused:
            if now - self.write_stalled_since > self.write_timeout:
                logger.info("Closing a WebSocket whose client stopped reading")
                self.transport.abort()
            return
        if not self.ping_interval or self.read_paused:
            return  # while reading is paused a pong could not be seen
        if self.ping_payload is not None:
            if now - self.ping_sent > self.ping_timeout:
                self.closing_since = now
                self._fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        elif now - self.ping_sent >= self.ping_interval and self.proto.state is _OPEN:
            self.ping_payload = os.urandom(4)
            self.ping_sent = now
            self.proto.send_ping(self.ping_payload)
            self._write_out()

    def shutdown(self) -> None:
        """The server is stopping: close with 1001 (going away)."""
        self.start_close(CloseCode.GOING_AWAY, "server shutting down")

    def app_finished(self) -> None:
        """The app returned: close normally if it left the connection open."""
        self.start_close(CloseCode.NORMAL_CLOSURE, "")
