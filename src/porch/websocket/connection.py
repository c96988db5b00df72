"""`porch.WebSocket`: what an app holds to accept, read and write one WebSocket connection.

A WebSocket upgrade reaches the app as an ordinary `Request` (``GET`` with ``Upgrade:
websocket``). The app wraps it, ``ws = WebSocket(request)``, and ``await ws.accept()``: the
handshake is checked, the 101 response written, and the connection handed from the HTTP
protocol to a `WebSocketProtocol`. Until `accept`, the app may still refuse with any HTTP
response. The framework does the wrapping for ``@app.websocket`` routes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import msgspec
from websockets.datastructures import Headers as WSHeaders
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request as WSRequest
from websockets.server import ServerProtocol
from websockets.typing import Origin, Subprotocol

from porch.datastructures import Headers, QueryParams
from porch.errors import HTTPError
from porch.request import Request, State
from porch.websocket.protocol import WebSocketDisconnect, WebSocketProtocol

__all__ = ["WebSocket", "handshake_error", "is_websocket"]

_UPGRADE_HINT = "Upgrade to a WebSocket with a WebSocket client (this URL speaks only WebSocket)."


def is_websocket(request: Request) -> bool:
    """Does `request` ask to switch to the WebSocket protocol?"""
    upgrade = request.upgrade
    return upgrade is not None and b"websocket" in upgrade.lower()


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",")}


def handshake_error(request: Request) -> HTTPError | None:
    """What is wrong with `request` as a WebSocket opening handshake (RFC 6455 4.2.1), as the
    HTTP error to answer it with; None when nothing is."""
    headers = request.headers
    if request.method != "GET":
        return HTTPError(405, "A WebSocket handshake must use GET", {"allow": "GET"})
    if request.http_version != "1.1":
        return HTTPError(505, "A WebSocket handshake needs HTTP/1.1")
    upgrade = {"upgrade": "websocket", "connection": "Upgrade"}
    if "websocket" not in _tokens(",".join(headers.getlist("upgrade"))):
        return HTTPError(426, f"Missing 'Upgrade: websocket'. {_UPGRADE_HINT}", upgrade)
    if "upgrade" not in _tokens(",".join(headers.getlist("connection"))):
        return HTTPError(426, f"Missing 'Connection: Upgrade'. {_UPGRADE_HINT}", upgrade)
    versions = headers.getlist("sec-websocket-version")
    if versions != ["13"]:
        got = ", ".join(versions) or "none"
        return HTTPError(
            426,
            f"Unsupported Sec-WebSocket-Version ({got}): this server speaks version 13",
            {**upgrade, "sec-websocket-version": "13"},
        )
    keys = headers.getlist("sec-websocket-key")
    if len(keys) != 1:
        return HTTPError(400, "A WebSocket handshake needs exactly one Sec-WebSocket-Key")
    try:
        valid = len(base64.b64decode(keys[0].encode("ascii"), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        valid = False
    if not valid:
        return HTTPError(400, "Sec-WebSocket-Key must be 16 random bytes in base64")
    return None


class _ServerProtocol(ServerProtocol):
    """websockets' protocol, except that a close frame in the middle of a fragmented message
    ends the connection normally: control frames may come between fragments (RFC 6455 5.4),
    the unfinished message is simply dropped (Autobahn case 7.1.5)."""

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.CLOSE:
            self.current_size = None
        super().recv_frame(frame)


class WebSocket:
    """One WebSocket connection, from the request that asked for it.

    Before `accept()` nothing is sent and the app may answer with an HTTP response instead
    (the framework answers 403 when a handler closes or returns without accepting). After
    it: `receive()` / `send()` and their text, bytes and JSON forms, ``async for message in
    ws`` (ends when the client closes), `close()`. The request's headers, query, cookies,
    state and path parameters stay readable throughout.
    """

    def __init__(
        self,
        request: Request,
        *,
        origins: Sequence[str | None] | None = None,
        path_params: dict[str, Any] | None = None,
    ) -> None:
        self.request = request
        self.path_params: dict[str, Any] = path_params or {}
        self._origins = origins
        self._io: WebSocketProtocol | None = None
        self._rejected = False
        self.subprotocol: str | None = None

    # the request, as for HTTP handlers --------------------------------------------------

    @property
    def headers(self) -> Headers:
        return self.request.headers

    @property
    def query(self) -> QueryParams:
        return self.request.query

    @property
    def cookies(self) -> dict[str, str]:
        return self.request.cookies

    @property
    def state(self) -> State:
        return self.request.state

    @property
    def client(self) -> tuple[str, int] | None:
        return self.request.client

    @property
    def url(self) -> str:
        scheme = "wss" if self.request.scheme == "https" else "ws"
        return scheme + self.request.url[self.request.url.index(":") :]

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        offered: list[str] = []
        for value in self.request.headers.getlist("sec-websocket-protocol"):
            offered.extend(p.strip() for p in value.split(",") if p.strip())
        return offered

    # state ------------------------------------------------------------------------------

    @property
    def accepted(self) -> bool:
        return self._io is not None

    @property
    def closed(self) -> bool:
        """True once a close frame was sent or received, or the client has gone."""
        io = self._io
        if io is None:
            return self._rejected
        return io.lost or io.proto.state.name != "OPEN"

    @property
    def close_code(self) -> int | None:
        """How the connection closed (None while open): the client's code, 1006 if it
        vanished without a close frame."""
        io = self._io
        if io is None or not self.closed:
            return None
        return io.disconnect().code

    @property
    def close_reason(self) -> str:
        io = self._io
        return io.disconnect().reason if io is not None and self.closed else ""

    # the handshake ----------------------------------------------------------------------

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        """Answer the handshake with 101 and start the WebSocket. `subprotocol` must be one
        the client offered; `headers` are added to the 101 response (e.g. Set-Cookie).
        An invalid handshake raises `HTTPError` (400, 403 for a refused origin, 426); a
        client that already left, `WebSocketDisconnect` (1006)."""
        if self._io is not None or self._rejected:
            raise RuntimeError("accept() on a WebSocket that is already accepted or closed")
        error = handshake_error(self.request)
        if error is not None:
            raise error
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client "
                f"(offered: {', '.join(self.subprotocols) or 'none'})"
            )
        channel: Any = self.request._source
        if channel is None or not hasattr(channel, "take_over"):
            raise RuntimeError(
                "this request's connection cannot switch to WebSocket (an in-memory request, "
                "or a server other than porch's)"
            )
        if channel.disconnected:
            raise WebSocketDisconnect(CloseCode.ABNORMAL_CLOSURE, "the client left first")
        server = channel.state
        config = server.config
        proto = _ServerProtocol(
            origins=[None if o is None else Origin(o) for o in self._origins]
            if self._origins is not None
            else None,
            extensions=[ServerPerMessageDeflateFactory()]
            if config.ws_per_message_deflate
            else None,
            select_subprotocol=lambda _proto, _offered: (
                None if subprotocol is None else Subprotocol(subprotocol)
            ),
            max_size=config.ws_max_size,
        )
        request = self.request
        target = request.raw_path.decode("ascii")
        if request.query_string:
            target += "?" + request.query_string.decode("ascii")
        fields = WSHeaders(
            [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.raw_headers]
        )
        response = proto.accept(WSRequest(target, fields))
        if response.status_code != 101:
            detail = response.body.decode("utf-8", "replace").strip()
            extra = {
                k.lower(): v
                for k, v in response.headers.raw_items()
                if k.lower() in ("upgrade", "allow", "sec-websocket-version")
            }
            raise HTTPError(response.status_code, detail, extra or None)
        pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
        for name, value in pairs:
            response.headers[name] = value  # adds: Set-Cookie may repeat
        proto.send_response(response)
        head = b"".join(proto.data_to_send())
        # porch parsed the HTTP request: restart websockets' parser past its handshake part
        # (it skips it once the state is OPEN), so the next bytes are read as frames.
        proto.parser = proto.parse()
        next(proto.parser)
        io = WebSocketProtocol(channel.transport, server, proto)
        self._io = io
        self.subprotocol = subprotocol
        channel.take_over(io, head)

    def _require(self) -> WebSocketProtocol:
        io = self._io
        if io is None:
            raise RuntimeError("the WebSocket is not accepted yet: await ws.accept() first")
        return io

    # receiving --------------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next message (str for text, bytes for binary). Raises `WebSocketDisconnect`
        (with the close code) when the client has closed."""
        return await self._require().receive()

    async def receive_text(self) -> str:
        message = await self.receive()
        if not isinstance(message, str):
            await self.close(CloseCode.UNSUPPORTED_DATA, "expected a text message")
            raise WebSocketDisconnect(CloseCode.UNSUPPORTED_DATA, "expected a text message")
        return message

    async def receive_bytes(self) -> bytes:
        message = await self.receive()
        if not isinstance(message, bytes):
            await self.close(CloseCode.UNSUPPORTED_DATA, "expected a binary message")
            raise WebSocketDisconnect(CloseCode.UNSUPPORTED_DATA, "expected a binary message")
        return message

    async def receive_json(self) -> Any:
        """The next message decoded as JSON; invalid JSON closes with 1007 and raises
        `WebSocketDisconnect`."""
        message = await self.receive()
        try:
            return msgspec.json.decode(message)
        except msgspec.DecodeError as exc:
            reason = f"invalid JSON: {exc}"[:120]
            await self.close(CloseCode.INVALID_DATA, reason)
            raise WebSocketDisconnect(CloseCode.INVALID_DATA, reason) from None

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[str | bytes]:
        io = self._require()
        while True:
            try:
                message = await io.receive()
            except WebSocketDisconnect:
                return
            yield message

    # sending ----------------------------------------------------------------------------

    async def send(self, message: str | bytes) -> None:
        """Send a text (str) or binary (bytes) message. Waits while the client is not
        reading; raises `WebSocketDisconnect` when the connection is closed."""
        await self._require().send(message)

    send_text = send
    send_bytes = send

    async def send_json(self, data: Any, binary: bool = False) -> None:
        encoded = msgspec.json.encode(data)
        await self._require().send(encoded if binary else encoded.decode())

    async def send_fragments(self, pieces: list[str] | list[bytes]) -> None:
        """Send one message as several frames."""
        await self._require().send_fragments(pieces)

    async def wait_closed(self) -> None:
        """Wait until the connection is closed, without reading (messages stay queued)."""
        await asyncio.shield(self._require().done)

    async def ping(self, data: bytes = b"") -> None:
        await self._require().ping(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with `code` and `reason` and wait for the client's reply
        (bounded by ``ws_close_timeout``). Before `accept()` it refuses the handshake: the
        framework then answers 403."""
        io = self._io
        if io is None:
            self._rejected = True
            return
        if not 1000 <= code <= 4999 or code in (1004, 1005, 1006, 1015):
            raise ValueError(f"{code} is not a close code an endpoint may send")
        if len(reason.encode()) > 123:
            raise ValueError("a close reason is at most 123 bytes of UTF-8")
        await io.close(code, reason)
