"""Connections that start with a PROXY protocol header (``--proxy-protocol``)."""

from __future__ import annotations

import asyncio
import logging

from porch.http.proxy_protocol import ProxyProtocolError, parse_proxy_header
from porch.request import ConnectionInfo
from porch.server.protocol import HTTPProtocol
from porch.server.state import ServerState

__all__ = ["ProxyProtocolHTTP"]

logger = logging.getLogger("porch.error")


class ProxyProtocolHTTP(HTTPProtocol):
    """`HTTPProtocol` that first reads the PROXY header a trusted peer must send, and takes
    the client and server addresses from it. A peer that is not in --forwarded-allow-ips
    speaks HTTP at once (a PROXY header from it is a bad request). A missing or malformed
    header closes the connection without a reply; a header that does not arrive in time is
    closed by the head timeout."""

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        self.proxy_buffer: bytes | None = None  # None: no header expected (any more)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if not self.closing and self.state.trusts(self.info.client):
            self.proxy_buffer = b""

    def data_received(self, data: bytes) -> None:
        buffer = self.proxy_buffer
        if buffer is None:
            super().data_received(data)
            return
        buffer += data
        try:
            parsed = parse_proxy_header(buffer)
        except ProxyProtocolError as exc:
            logger.debug("Closing a connection from %s: %s", self.info.client, exc)
            self.proxy_buffer = None
            self.closing = True
            self.transport.close()
            return
        if parsed is None:
            self.proxy_buffer = buffer
            return
        header, size = parsed
        self.proxy_buffer = None
        if header.client is not None:
            self.info = ConnectionInfo(header.client, header.server, self.info.scheme)
            if self.state.config.proxy_headers:
                self.forwarding = self.state.trusts(header.client)
        if len(buffer) > size:
            super().data_received(buffer[size:])
