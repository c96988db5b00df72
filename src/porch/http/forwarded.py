"""Who the client really is behind trusted proxies: sans-IO reading of the forwarding headers.

`TrustedProxies` is the parsed ``--forwarded-allow-ips`` list. `resolve()` reads RFC 7239
``Forwarded`` or, without it, ``X-Forwarded-For/-Proto/-Host/-Port`` from a request's header
list, for a request whose direct peer is trusted.

The client address is found by walking the list of hops from the right (the nearest proxy)
and skipping trusted proxies: the first address that is not a trusted proxy is the client.
Anything to its left was written by the client itself and may be forged. Proto and host are
taken from the hop the client was found at (``Forwarded``), or the right-most value of the
``X-Forwarded-*`` field, the one the nearest proxy wrote. A malformed value is ignored as if
it were absent; nothing here raises on request data.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

from porch.http.parser import HOST_SYNTAX

__all__ = ["Forwarding", "TrustedProxies", "resolve"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_NAMES = frozenset(
    (
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
    )
)
# One forwarded-pair (RFC 7239 4): token "=" ( token / quoted-string ), then ";" "," or end.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PAIR = re.compile(
    rf'\s*({_TOKEN})=(?:({_TOKEN})|"((?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e])*)")\s*'
    r"([;,]|$)"
)
_OBFUSCATED = re.compile(r"_[A-Za-z0-9._\-]+")
_PORT = re.compile(r"[0-9]{1,5}")


class TrustedProxies:
    """A set of IP addresses and networks, or everyone (``*``)."""

    __slots__ = ("everyone", "_addresses", "_networks")

    def __init__(self, everyone: bool, networks: list[_Network]) -> None:
        self.everyone = everyone
        self._networks = [n for n in networks if n.num_addresses > 1]
        self._addresses = frozenset(
            str(n.network_address) for n in networks if n.num_addresses == 1
        )

    @classmethod
    def parse(cls, spec: str) -> TrustedProxies:
        """From ``"127.0.0.1, ::1, 10.0.0.0/8"`` or ``"*"``; a bad entry raises ValueError."""
        everyone = False
        networks: list[_Network] = []
        for entry in spec.split(","):
            entry = entry.strip()
            if not entry:
                continue
            if entry == "*":
                everyone = True
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return cls(everyone, networks)

    def __contains__(self, host: object) -> bool:
        """Is `host` (an IP address as text) a trusted proxy? Names and junk never are."""
        if self.everyone:
            return True
        if not isinstance(host, str):
            return False
        if host in self._addresses:
            return True
        try:
            ip = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if str(ip) in self._addresses:
            return True
        return any(ip in network for network in self._networks)


class Forwarding(NamedTuple):
    """What the proxies said. A None field leaves that fact as the connection has it;
    `client` is applied only when `has_client` (it is None for the ``unknown`` node)."""

    has_client: bool
    client: tuple[str, int] | None
    scheme: str | None
    host: bytes | None
    port: int | None


def resolve(headers: list[tuple[bytes, bytes]], trusted: TrustedProxies) -> Forwarding | None:
    """The forwarding facts in a trusted peer's request, or None when it carries none."""
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in _NAMES:
            previous = found.get(name)
            found[name] = value if previous is None else previous + b"," + value
    if not found:
        return None
    forwarded = found.get(b"forwarded")
    if forwarded is not None:
        result = _from_forwarded(forwarded, trusted)
        if result is not None:
            return result
    return _from_x_forwarded(found, trusted)


# X-Forwarded-* -----------------------------------------------------------------------------


def _from_x_forwarded(found: dict[bytes, bytes], trusted: TrustedProxies) -> Forwarding | None:
    has_client, client = False, None
    value = found.get(b"x-forwarded-for")
    if value is not None:
        hops = [hop.strip() for hop in value.decode("latin-1").split(",")]
        if all(hops):
            address = _client_of(hops, trusted)
            if address is not None:
                has_client, client = True, (address, 0)
    scheme = _last(found.get(b"x-forwarded-proto"))
    scheme = _SCHEMES.get(scheme.lower()) if scheme is not None else None
    host = _valid_host(_last(found.get(b"x-forwarded-host")))
    port_text = _last(found.get(b"x-forwarded-port"))
    port = _valid_port(port_text) if port_text is not None else None
    if not has_client and scheme is None and host is None and port is None:
        return None
    return Forwarding(has_client, client, scheme, host, port)


def _last(value: bytes | None) -> str | None:
    if value is None:
        return None
    return value.decode("latin-1").rpartition(",")[2].strip() or None


def _ip_literal(hop: str) -> str | None:
    """An X-Forwarded-For entry as an IP address, or None (a name, junk)."""
    if hop.startswith("["):  # [v6] or [v6]:port
        hop = hop[1 : hop.find("]")] if "]" in hop else ""
    elif hop.count(":") == 1:  # v4:port
        hop = hop.partition(":")[0]
    try:
        return str(ipaddress.ip_address(hop))
    except ValueError:
        return None


def _client_of(hops: list[str], trusted: TrustedProxies) -> str | None:
    """Walk from the right past trusted proxies; the first other hop is the client. An entry
    that is no IP address stops the walk and nothing is concluded from it."""
    address = None
    for hop in reversed(hops):
        address = _ip_literal(hop)
        if address is None or address not in trusted:
            return address
    return address  # every hop is a trusted proxy: the farthest one is the client


# RFC 7239 Forwarded ------------------------------------------------------------------------


def _from_forwarded(value: bytes, trusted: TrustedProxies) -> Forwarding | None:
    elements = _parse_forwarded(value.decode("latin-1"))
    if not elements:
        return None
    nodes: list[tuple[str, int] | None | bool] = []  # False: the element has no for=
    for element in elements:
        if "for" not in element:
            nodes.append(False)
            continue
        try:
            nodes.append(_node(element["for"]))
        except ValueError:
            return None  # not a node of RFC 7239 6: the header is malformed
    index = len(elements) - 1
    while index > 0:
        node = nodes[index]
        if not isinstance(node, tuple) or node[0] not in trusted:
            break  # the client, an unknown or unnamed hop: no trusted proxy before it
        index -= 1
    chosen, node = elements[index], nodes[index]
    proto = chosen.get("proto")
    scheme = _SCHEMES.get(proto.lower()) if proto is not None else None
    host = _valid_host(chosen.get("host"))
    if node is False:
        return Forwarding(False, None, scheme, host, None)
    return Forwarding(True, node if isinstance(node, tuple) else None, scheme, host, None)


def _parse_forwarded(text: str) -> list[dict[str, str]] | None:
    """The elements of a Forwarded value, each a dict of lowercased parameter names; None if
    the value is malformed anywhere (then it is ignored whole)."""
    elements: list[dict[str, str]] = []
    element: dict[str, str] = {}
    position, end = 0, len(text)
    while position < end:
        match = _PAIR.match(text, position)
        if match is None:
            return None
        name, token, quoted, separator = match.groups()
        name = name.lower()
        if name in element:
            return None  # a parameter twice in one element (RFC 7239 4)
        element[name] = token if token is not None else re.sub(r"\\(.)", r"\1", quoted)
        position = match.end()
        if separator != ";":
            elements.append(element)
            element = {}
    return elements or None


def _node(value: str) -> tuple[str, int] | None:
    """A ``for=`` node as (address, port): the address an IP or an obfuscated identifier
    (``_hidden``), the port 0 when absent or obfuscated. None for ``unknown``; ValueError
    for anything else."""
    if value.lower() == "unknown":
        return None
    if value.startswith("["):
        address, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(value)
        address = str(ipaddress.IPv6Address(address))  # ValueError when it is none
    else:
        address, colon, rest = value.partition(":")
        rest = colon + rest
        if not _OBFUSCATED.fullmatch(address):
            address = str(ipaddress.IPv4Address(address))
    port = 0
    if rest:
        text = rest[1:]
        if _PORT.fullmatch(text) and int(text) <= 65535:
            port = int(text)
        elif not _OBFUSCATED.fullmatch(text):
            raise ValueError(value)
    return (address, port)


# shared ------------------------------------------------------------------------------------


def _valid_host(value: str | None) -> bytes | None:
    if not value:
        return None
    raw = value.encode("latin-1")
    return raw if HOST_SYNTAX.fullmatch(raw) is not None else None


def _valid_port(value: str) -> int | None:
    if _PORT.fullmatch(value) and 0 < int(value) <= 65535:
        return int(value)
    return None
