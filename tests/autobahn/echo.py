"""The echo endpoint Autobahn|Testsuite runs against (tests/autobahn/run.sh): porch's native
WebSocket route, echoing every message as it came."""

from __future__ import annotations

import porch

app = porch.App(sessions=False, csrf=False)  # a bare echo: neither is used


@app.websocket("/ws")
async def echo(ws: porch.WebSocket) -> None:
    await ws.accept()
    async for message in ws:
        await ws.send(message)
