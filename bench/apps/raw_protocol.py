"""The ceiling: an asyncio Protocol on uvloop that never parses HTTP.

It answers every request terminator (CRLF CRLF) it sees with one pre-built
response, so a pipelined batch is answered in a single write. The ``Date``
header is rebuilt once a second. Nothing Python-level can be much faster than
this on the same event loop, so it bounds what porch can reach.

Usage: python bench/apps/raw_protocol.py PORT [plaintext|json]
"""

import asyncio
import sys
from email.utils import formatdate
from typing import cast

import uvloop

_TERMINATOR = b"\r\n\r\n"
_BODIES = {
    "plaintext": (b"text/plain", b"Hello, World!"),
    "json": (b"application/json", b'{"message":"Hello, World!"}'),
}


class _Responder:
    """Holds the current pre-built response; refreshed every second."""

    def __init__(self, kind: str) -> None:
        self.content_type, self.body = _BODIES[kind]
        self.response = b""
        self.refresh()

    def refresh(self) -> None:
        date = formatdate(usegmt=True).encode()
        self.response = b"".join(
            [
                b"HTTP/1.1 200 OK\r\nServer: raw\r\nDate: ",
                date,
                b"\r\nContent-Type: ",
                self.content_type,
                b"\r\nContent-Length: ",
                str(len(self.body)).encode(),
                b"\r\n\r\n",
                self.body,
            ]
        )
        asyncio.get_running_loop().call_later(1.0, self.refresh)


class RawProtocol(asyncio.Protocol):
    def __init__(self, responder: _Responder) -> None:
        self._responder = responder
        self._tail = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, hence the cast.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self._tail + data if self._tail else data
        count = buf.count(_TERMINATOR)
        if count:
            rest = buf[buf.rfind(_TERMINATOR) + len(_TERMINATOR) :]
            self._tail = rest[-3:]
            assert self._transport is not None
            self._transport.write(self._responder.response * count)
        else:
            # Keep just enough bytes to spot a terminator split across reads.
            self._tail = buf[-3:]

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def serve(port: int, kind: str) -> None:
    loop = asyncio.get_running_loop()
    responder = _Responder(kind)
    server = await loop.create_server(
        lambda: RawProtocol(responder), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    kind = sys.argv[2] if len(sys.argv) == 3 else "plaintext"
    if kind not in _BODIES:
        sys.exit(f"unknown body kind {kind!r}; choose from {sorted(_BODIES)}")
    uvloop.run(serve(int(sys.argv[1]), kind))


if __name__ == "__main__":
    main()
