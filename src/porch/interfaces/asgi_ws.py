"""The ASGI ``websocket`` scope (spec 2.4) for hosted apps, on `porch.WebSocket`.

`ASGIHost` hands an upgrade request here. The handshake is checked first (400/426 without
calling the app); then the app gets ``websocket.connect`` and answers with:

- ``websocket.accept`` (subprotocol, extra headers): the 101 goes out and the connection is
  the app's until it returns; ``receive()`` gives ``websocket.receive`` (text or bytes) and,
  once the client closed or vanished, ``websocket.disconnect`` with its code and reason;
- ``websocket.close`` before accepting: a 403 response;
- ``websocket.http.response.start`` / ``.body`` before accepting (the denial extension,
  advertised in the scope): that HTTP response.

A ``send`` after the connection closed raises `porch.ClientDisconnected` (an OSError), as
the spec asks. An app that raises after accepting closes the connection with 1011; one that
returns leaving it open gets a 1000 close; one that returns or raises before answering the
handshake gets a 403 or a 500.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from porch.errors import ClientDisconnected
from porch.request import Request
from porch.response import Response, internal_error
from porch.websocket import WebSocket, WebSocketDisconnect, handshake_error

if TYPE_CHECKING:
    from porch.interfaces.asgi import ASGIHost

__all__ = ["serve_websocket"]

logger = logging.getLogger("porch.error")
Message = dict[str, Any]

_CONNECTING, _ACCEPTED, _RESPONDING, _DONE = range(4)


async def serve_websocket(host: ASGIHost, request: Request) -> Response:
    """Run `host`'s app for the WebSocket upgrade `request`; the HTTP response for a refused
    handshake, or (once the app returns) a placeholder after an accepted one."""
    error = handshake_error(request)
    if error is not None:
        return Response(error.detail + "\n", error.status, error.headers, "text/plain")
    session = _Session(request)
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[Response] = loop.create_future()
    session.ready = ready
    scope = host.scope(request)
    scope["type"] = "websocket"
    scope["scheme"] = "wss" if request.scheme == "https" else "ws"
    scope["subprotocols"] = session.ws.subprotocols
    scope["asgi"] = {"version": "3.0", "spec_version": "2.4"}
    scope["extensions"] = {"websocket.http.response": {}}
    scope.pop("method", None)
    return await host.run_until_ready(session.run(host.app, scope), ready)


class _Session:
    """One WebSocket's ``receive`` / ``send`` pair."""

    def __init__(self, request: Request) -> None:
        self.ws = WebSocket(request)
        self.state = _CONNECTING
        self.connected = False  # websocket.connect was delivered
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.ready: asyncio.Future[Response]
        self.changed: asyncio.Future[None] | None = None
        self.disconnected = False

    async def run(self, app: Any, scope: dict[str, Any]) -> None:
        try:
            await app(scope, self.receive, self.send)
        except asyncio.CancelledError:
            self._answer(Response(b"", 499))
            raise
        except Exception as exc:
            if self.state == _ACCEPTED:
                if not isinstance(exc, ClientDisconnected):
                    logger.error("Exception in ASGI WebSocket app", exc_info=exc)
                if not self.ws.closed:
                    await self.ws.close(1011, "internal error")
            else:
                logger.error("Exception in ASGI app before the WebSocket handshake", exc_info=exc)
                self._answer(internal_error())
        finally:
            # A handshake never answered is refused; an accepted one is over for porch too.
            self._answer(_refused())

    def _answer(self, response: Response) -> None:
        if not self.ready.done():
            self.ready.set_result(response)
        self.state = _DONE
        self._wake()

    def _wake(self) -> None:
        changed = self.changed
        if changed is not None:
            self.changed = None
            if not changed.done():
                changed.set_result(None)

    async def receive(self) -> Message:
        if not self.connected:
            self.connected = True
            return {"type": "websocket.connect"}
        while self.state in (_CONNECTING, _RESPONDING):
            changed = self.changed = asyncio.get_running_loop().create_future()
            await changed
        if self.state != _ACCEPTED or self.disconnected:
            return {"type": "websocket.disconnect", "code": self.ws.close_code or 1006}
        try:
            message = await self.ws.receive()
        except WebSocketDisconnect as exc:
            self.disconnected = True
            return {"type": "websocket.disconnect", "code": exc.code, "reason": exc.reason}
        if isinstance(message, str):
            return {"type": "websocket.receive", "text": message}
        return {"type": "websocket.receive", "bytes": message}

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        state = self.state
        if state == _ACCEPTED:
            if kind == "websocket.send":
                await self._send_data(message)
            elif kind == "websocket.close":
                await self.ws.close(message.get("code") or 1000, message.get("reason") or "")
            else:
                raise RuntimeError(f"unexpected ASGI message {kind!r} on an open WebSocket")
        elif state == _CONNECTING:
            if kind == "websocket.accept":
                await self._accept(message)
            elif kind == "websocket.close":
                self._answer(_refused())
            elif kind == "websocket.http.response.start":
                self._start(message)
            else:
                raise RuntimeError(
                    f"unexpected ASGI message {kind!r} before the WebSocket handshake is "
                    "answered (websocket.accept, websocket.close or websocket.http.response)"
                )
        elif state == _RESPONDING and kind == "websocket.http.response.body":
            self.body.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                self._answer(Response(b"".join(self.body), self.status, self.headers))
        elif state == _DONE and kind in ("websocket.send", "websocket.close"):
            raise ClientDisconnected("the WebSocket is closed")
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} for this WebSocket")

    async def _accept(self, message: Message) -> None:
        extra = [
            (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
            for name, value in message.get("headers") or ()
        ]
        await self.ws.accept(message.get("subprotocol"), extra)
        self.state = _ACCEPTED
        self._wake()

    async def _send_data(self, message: Message) -> None:
        text = message.get("text")
        data: str | bytes | None = text if text is not None else message.get("bytes")
        if data is None:
            raise RuntimeError("websocket.send needs 'text' or 'bytes'")
        try:
            await self.ws.send(data)
        except WebSocketDisconnect:
            raise ClientDisconnected("the WebSocket is closed") from None

    def _start(self, message: Message) -> None:
        self.status = int(message.get("status", 200))
        self.headers = [
            (bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
            for n, v in message.get("headers") or ()
        ]
        self.state = _RESPONDING


def _refused() -> Response:
    return Response("WebSocket connection refused\n", 403, media_type="text/plain")
