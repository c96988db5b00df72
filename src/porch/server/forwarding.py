"""Behind proxies: the request's client, scheme and host as the trusted proxies tell them."""

from __future__ import annotations

from porch.http.forwarded import TrustedProxies, resolve
from porch.request import ConnectionInfo, Request

__all__ = ["apply_forwarding"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def apply_forwarding(request: Request, trusted: TrustedProxies) -> None:
    """Give `request` its own `ConnectionInfo` (and Host) from the forwarding headers; its
    connection's peer is a trusted proxy. Requests without those headers keep the
    connection's."""
    facts = resolve(request.raw_headers, trusted)
    if facts is None:
        return
    info = request.conn
    assert info is not None  # set by the connection before this is called
    client = facts.client if facts.has_client else info.client
    scheme = facts.scheme or info.scheme
    server = info.server
    if facts.host is not None:
        request.host = facts.host
    port = facts.port
    if port is not None:
        if server is not None:
            server = (server[0], port)
        host = request.host
        if host and b":" not in host.rpartition(b"]")[2] and port != _DEFAULT_PORTS[scheme]:
            request.host = host + b":%d" % port
    request.conn = ConnectionInfo(client, server, scheme)
