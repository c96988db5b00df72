"""WebSocket connections on `websockets`' sans-IO protocol (docs/websockets.md).

`WebSocket` is what apps use; `WebSocketProtocol` is the connection the HTTP protocol hands
the socket to on upgrade; `porch.websocket.routes` wires ``@app.websocket`` routes.
"""

from porch.websocket.connection import WebSocket, handshake_error, is_websocket
from porch.websocket.protocol import WebSocketDisconnect, WebSocketProtocol

__all__ = [
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketProtocol",
    "handshake_error",
    "is_websocket",
]
