"""The PROXY protocol header parser: valid headers whole and byte by byte, hostile ones."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from porch.http.proxy_protocol import (
    MAX_V1_LENGTH,
    MAX_V2_LENGTH,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyProtocolError,
    parse_proxy_header,
)

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def v2(
    command: int = 1,
    family: int = 0x11,
    addresses: bytes | None = None,
    tlvs: bytes = b"",
    version: int = 2,
) -> bytes:
    if addresses is None:
        addresses = (
            socket.inet_pton(socket.AF_INET, "203.0.113.7")
            + socket.inet_pton(socket.AF_INET, "10.0.0.1")
            + struct.pack("!HH", 51234, 443)
        )
    block = addresses + tlvs
    return (
        V2_SIGNATURE
        + bytes([version << 4 | command, family])
        + struct.pack("!H", len(block))
        + block
    )


def v2_tcp6() -> bytes:
    addresses = (
        socket.inet_pton(socket.AF_INET6, "2001:db8::7")
        + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
        + struct.pack("!HH", 4711, 8443)
    )
    return v2(family=0x21, addresses=addresses)


VALID = [
    (
        b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\n",
        ProxyHeader(1, ("203.0.113.7", 51234), ("10.0.0.1", 443)),
    ),
    (
        b"PROXY TCP6 2001:db8::7 2001:db8::1 4711 8443\r\n",
        ProxyHeader(1, ("2001:db8::7", 4711), ("2001:db8::1", 8443)),
    ),
    (b"PROXY UNKNOWN\r\n", ProxyHeader(1, None, None)),
    (b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", ProxyHeader(1, None, None)),
    (
        b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
        ProxyHeader(1, ("255.255.255.255", 65535), ("255.255.255.255", 65535)),
    ),
    (v2(), ProxyHeader(2, ("203.0.113.7", 51234), ("10.0.0.1", 443))),
    (v2_tcp6(), ProxyHeader(2, ("2001:db8::7", 4711), ("2001:db8::1", 8443))),
    # TLVs (here an ALPN and a unique id) are skipped.
    (
        v2(tlvs=b"\x01\x00\x08http/1.1" + b"\x05\x00\x04abcd"),
        ProxyHeader(2, ("203.0.113.7", 51234), ("10.0.0.1", 443)),
    ),
    (v2(command=0, family=0, addresses=b""), ProxyHeader(2, None, None)),  # LOCAL
    (v2(command=0), ProxyHeader(2, None, None)),  # LOCAL ignores the addresses it has
    (v2(family=0x12), ProxyHeader(2, None, None)),  # UDP: keep the connection's addresses
    (v2(family=0x31, addresses=bytes(216)), ProxyHeader(2, None, None)),  # UNIX
    (v2(family=0x00, addresses=b""), ProxyHeader(2, None, None)),  # UNSPEC
]


@pytest.mark.parametrize(("data", "header"), VALID)
def test_valid_header_whole_with_the_request_after_it(data, header):
    assert parse_proxy_header(data + REQUEST) == (header, len(data))


@pytest.mark.parametrize(("data", "header"), VALID)
def test_valid_header_byte_by_byte(data, header):
    for end in range(len(data)):
        assert parse_proxy_header(data[:end]) is None, end
    assert parse_proxy_header(data) == (header, len(data))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GET / HTTP/1.1\r\n", "no PROXY protocol header"),
        (b"G", "no PROXY protocol header"),
        (b"PROXZ", "no PROXY protocol header"),
        (b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "no PROXY protocol header"),
        (b"\r\n\r\n\x00\r\nQUIX\n", "no PROXY protocol header"),
        (b"\x16\x03\x01\x02\x00", "no PROXY protocol header"),  # a TLS hello
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "bare CR or LF"),
        (b"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", "malformed PROXY v1"),
        (b"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2", "bare CR or LF"),
        (b"PROXY " + b"A" * 200, "longer than 107 bytes"),
        (b"PROXY UNKNOWN " + b"x" * (MAX_V1_LENGTH - 15) + b"\r\n", "longer than 107 bytes"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "malformed PROXY v1"),
        (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "malformed PROXY v1"),
        (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "malformed PROXY v1"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "malformed PROXY v1"),
        (b"PROXY\r\n", "no PROXY protocol header"),
        (b"PROXY \r\n", "malformed PROXY v1"),
        (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "bad address"),
        (b"PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n", "bad address"),
        (b"PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n", "bad address"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 \xd9\xa1 2\r\n", "not ASCII"),
        (v2(version=1), "unknown version 1"),
        (v2(version=3), "unknown version 3"),
        (v2(command=2), "unknown command 2"),
        (v2(addresses=b"\x01\x02\x03"), "too short"),
        (v2(family=0x21), "too short"),  # IPv6 family with an IPv4 block
        (v2(tlvs=bytes(MAX_V2_LENGTH)), "over the limit"),
    ],
)
def test_hostile_headers(data, message):
    with pytest.raises(ProxyProtocolError, match=message):
        parse_proxy_header(data)


def test_oversize_v2_is_refused_from_its_length_field_alone():
    head = V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", 0xFFFF)
    with pytest.raises(ProxyProtocolError, match="over the limit"):
        parse_proxy_header(head)  # no need to wait for 64 KiB that will never be accepted


def test_v1_of_exactly_107_bytes_is_accepted():
    data = b"PROXY UNKNOWN " + b"x" * (MAX_V1_LENGTH - 16) + b"\r\n"
    assert len(data) == MAX_V1_LENGTH
    assert parse_proxy_header(data) == (ProxyHeader(1, None, None), MAX_V1_LENGTH)


def test_empty_input_waits():
    assert parse_proxy_header(b"") is None


@given(st.binary(max_size=300))
def test_any_bytes_parse_wait_or_raise(data):
    try:
        result = parse_proxy_header(data)
    except ProxyProtocolError:
        return
    if result is not None:
        header, size = result
        assert 0 < size <= len(data)
        assert size <= max(MAX_V1_LENGTH, MAX_V2_LENGTH)
    else:
        assert len(data) < MAX_V2_LENGTH
