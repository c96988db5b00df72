"""Real Starlette and FastAPI WebSocket apps, hosted by porch in tests/websocket/test_asgi.py
(and the Starlette echo is Autobahn's second target: tests/autobahn/run.sh)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi import WebSocket as FastAPIWebSocket
from fastapi import WebSocketDisconnect as FastAPIDisconnect
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


async def echo(ws: WebSocket) -> None:
    """Echo every message as it came (text or binary)."""
    subprotocol = "chat" if "chat" in ws.scope["subprotocols"] else None
    await ws.accept(subprotocol=subprotocol)
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await ws.send_text(message["text"])
        else:
            await ws.send_bytes(message["bytes"])


async def deny(ws: WebSocket) -> None:
    """Refuse with an HTTP response of the app's own (the denial extension)."""
    await ws.send_denial_response(PlainTextResponse("members only\n", status_code=401))


async def close_early(ws: WebSocket) -> None:
    await ws.close()


async def goodbye(ws: WebSocket) -> None:
    await ws.accept()
    name = await ws.receive_text()
    await ws.send_text(f"bye {name}")
    await ws.close(code=4001, reason="done")


async def until_gone(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            await ws.receive_text()
    except WebSocketDisconnect as exc:
        ws.app.state.last_disconnect = exc.code


starlette_app = Starlette(
    routes=[
        WebSocketRoute("/ws", echo),
        WebSocketRoute("/deny", deny),
        WebSocketRoute("/close-early", close_early),
        WebSocketRoute("/goodbye", goodbye),
        WebSocketRoute("/until-gone", until_gone),
    ]
)

fastapi_app = FastAPI()


@fastapi_app.websocket("/items/{item_id}")
async def item_feed(websocket: FastAPIWebSocket, item_id: int, q: str | None = None) -> None:
    await websocket.accept()
    try:
        while True:
            data = await websocket.receive_json()
            await websocket.send_json({"item": item_id, "q": q, "echo": data})
    except FastAPIDisconnect:
        pass
