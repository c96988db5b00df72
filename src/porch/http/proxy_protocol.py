"""The PROXY protocol header (HAProxy, versions 1 and 2), sans-IO.

A load balancer that relays TCP connections can send one header first on each connection
that tells the real client's address. `parse_proxy_header(data)` looks at the first bytes of a
connection: it returns None while the header is incomplete, the header and its length once
complete, and raises `ProxyProtocolError` as soon as the bytes cannot be a header, or the
header is malformed or larger than the limit. TLVs of version 2 are skipped.

Version 1 is one text line: ``PROXY TCP4 <src> <dst> <sport> <dport>\\r\\n`` (or ``TCP6``, or
``UNKNOWN`` and anything) of at most 107 bytes. Version 2 is binary: a 12-byte signature,
version/command, family/transport, a 16-bit length and the addresses.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

__all__ = [
    "MAX_V1_LENGTH",
    "MAX_V2_LENGTH",
    "ProxyHeader",
    "ProxyProtocolError",
    "parse_proxy_header",
]

V1_PREFIX = b"PROXY "
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
MAX_V1_LENGTH = 107  # the specification's bound, CRLF included
MAX_V2_LENGTH = 16 + 4096  # the fixed part and address block with TLVs up to this size
_V2_FIXED = struct.Struct("!BBH")
_V2_ADDRESSES = {
    0x11: (struct.Struct("!4s4sHH"), ipaddress.IPv4Address),  # TCP over IPv4
    0x21: (struct.Struct("!16s16sHH"), ipaddress.IPv6Address),  # TCP over IPv6
}


class ProxyProtocolError(ValueError):
    """The connection does not start with a valid PROXY protocol header."""


class ProxyHeader(NamedTuple):
    """A parsed header. `client` and `server` are None when the header asks to keep the
    connection's own addresses (v1 ``UNKNOWN``, v2 ``LOCAL``, or another family)."""

    version: int
    client: tuple[str, int] | None
    server: tuple[str, int] | None


def parse_proxy_header(data: bytes) -> tuple[ProxyHeader, int] | None:
    """The header at the start of `data` and its length in bytes, or None when more bytes
    are needed. Raises `ProxyProtocolError` when `data` cannot start with a valid header."""
    if data[:1] == b"P":
        return _parse_v1(data)
    if data[:1] == b"\r":
        return _parse_v2(data)
    if data:
        raise ProxyProtocolError("no PROXY protocol header")
    return None


def _parse_v1(data: bytes) -> tuple[ProxyHeader, int] | None:
    if not data.startswith(V1_PREFIX[: len(data)]):
        raise ProxyProtocolError("no PROXY protocol header")
    end = data.find(b"\r\n", 0, MAX_V1_LENGTH)
    if end < 0:
        if len(data) >= MAX_V1_LENGTH:
            raise ProxyProtocolError("PROXY v1 header longer than 107 bytes")
        if b"\n" in data or (b"\r" in data and data.index(b"\r") < len(data) - 1):
            raise ProxyProtocolError("PROXY v1 header with a bare CR or LF")
        return None
    line = data[:end]
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise ProxyProtocolError("PROXY v1 header is not ASCII") from None
    parts = text.split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return ProxyHeader(1, None, None), end + 2
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyProtocolError(f"malformed PROXY v1 header {text[:MAX_V1_LENGTH]!r}")
    family = ipaddress.IPv4Address if parts[1] == "TCP4" else ipaddress.IPv6Address
    try:
        source, destination = str(family(parts[2])), str(family(parts[3]))
    except ValueError:
        raise ProxyProtocolError(f"bad address in PROXY v1 header {text!r}") from None
    ports = [_port(parts[4]), _port(parts[5])]
    return ProxyHeader(1, (source, ports[0]), (destination, ports[1])), end + 2


def _port(text: str) -> int:
    if not (text.isdigit() and text.isascii() and len(text) <= 5) or int(text) > 65535:
        raise ProxyProtocolError(f"bad port {text!r} in PROXY v1 header")
    if len(text) > 1 and text[0] == "0":
        raise ProxyProtocolError(f"bad port {text!r} in PROXY v1 header")
    return int(text)


def _parse_v2(data: bytes) -> tuple[ProxyHeader, int] | None:
    if not data.startswith(V2_SIGNATURE[: len(data)]):
        raise ProxyProtocolError("no PROXY protocol header")
    if len(data) < 16:
        return None
    version_command, family, length = _V2_FIXED.unpack_from(data, 12)
    if version_command >> 4 != 2:
        raise ProxyProtocolError(f"PROXY v2 header of unknown version {version_command >> 4}")
    command = version_command & 0x0F
    if command > 1:
        raise ProxyProtocolError(f"PROXY v2 header with unknown command {command}")
    total = 16 + length
    if total > MAX_V2_LENGTH:
        raise ProxyProtocolError(f"PROXY v2 header of {total} bytes is over the limit")
    if len(data) < total:
        return None
    if command == 0 or family not in _V2_ADDRESSES:  # LOCAL (health checks), UDP, UNIX...
        return ProxyHeader(2, None, None), total
    layout, kind = _V2_ADDRESSES[family]
    if length < layout.size:
        raise ProxyProtocolError("PROXY v2 address block too short for its family")
    source, destination, source_port, destination_port = layout.unpack_from(data, 16)
    client = (str(kind(source)), source_port)
    return ProxyHeader(2, client, (str(kind(destination)), destination_port)), total
