"""The `websocket` suite's echo apps: porch's native route (`native`) and a bare ASGI app
(`asgi`, for uvicorn with its `websockets` implementation and for porch hosting it). Each
also answers a plain GET on the same path, which the runner uses to see it is ready."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import porch

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

native = porch.App(sessions=False, csrf=False)  # a bare echo: neither is used


@native.get("/ws/echo")
async def ready() -> str:
    return "ready"


@native.websocket("/ws/echo")
async def echo(ws: porch.WebSocket) -> None:
    await ws.accept()
    async for message in ws:
        await ws.send(message)


async def asgi(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ready"})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            if message.get("text") is not None:
                await send({"type": "websocket.send", "text": message["text"]})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
