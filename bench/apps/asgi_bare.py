"""A bare ASGI app (no framework) answering /plaintext and /json.

The server (uvicorn) adds the ``server`` and ``date`` headers itself.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_PLAIN_BODY = b"Hello, World!"
_PLAIN_HEADERS = [
    (b"content-type", b"text/plain"),
    (b"content-length", str(len(_PLAIN_BODY)).encode()),
]
_JSON_BODY = b'{"message":"Hello, World!"}'
_JSON_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_JSON_BODY)).encode()),
]


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["path"] == "/json":
        body, headers = _JSON_BODY, _JSON_HEADERS
    else:
        body, headers = _PLAIN_BODY, _PLAIN_HEADERS
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
