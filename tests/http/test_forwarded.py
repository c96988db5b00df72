"""Reading X-Forwarded-* and RFC 7239 Forwarded from a trusted proxy's request (sans-IO)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from porch.http.forwarded import Forwarding, TrustedProxies, resolve

LOCAL = TrustedProxies.parse("127.0.0.1,::1")
PRIVATE = TrustedProxies.parse("127.0.0.1, 10.0.0.0/8, fd00::/8")


def headers(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(n.lower().encode(), v.encode("latin-1")) for n, v in pairs]


def client_of(*pairs: tuple[str, str], trusted: TrustedProxies = PRIVATE) -> object:
    facts = resolve(headers(*pairs), trusted)
    assert facts is not None
    return facts.client if facts.has_client else "unchanged"


# trusted proxies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "inside", "outside"),
    [
        ("127.0.0.1,::1", ["127.0.0.1", "::1", "::ffff:127.0.0.1"], ["127.0.0.2", "10.0.0.1"]),
        ("10.0.0.0/8", ["10.1.2.3", "10.255.255.255"], ["11.0.0.1", "::1"]),
        (" 192.168.1.0/24 , fd00::/8 ", ["192.168.1.77", "fd12::1"], ["192.168.2.1"]),
        ("*", ["1.2.3.4", "::1", "not-an-ip"], []),
        ("", [], ["127.0.0.1"]),
        ("10.0.0.1/8", ["10.9.9.9"], []),  # host bits set: the network is meant
    ],
)
def test_trusted_proxies(spec, inside, outside):
    trusted = TrustedProxies.parse(spec)
    for host in inside:
        assert host in trusted, host
    for host in outside:
        assert host not in trusted, host
    assert None not in TrustedProxies.parse("10.0.0.0/8")
    assert "localhost" not in LOCAL  # names are never trusted


@pytest.mark.parametrize("spec", ["10.0.0.0/33", "localhost", "1.2.3", "10.0.0.0/8,nope"])
def test_bad_trusted_proxy_entries(spec):
    with pytest.raises(ValueError, match="is not an IP address or network"):
        TrustedProxies.parse(spec)


# X-Forwarded-For -------------------------------------------------------------------------------


def test_no_forwarding_headers_is_none():
    assert resolve(headers(("host", "x"), ("user-agent", "y")), PRIVATE) is None
    assert resolve([], PRIVATE) is None


@pytest.mark.parametrize(
    ("value", "client"),
    [
        ("203.0.113.7", ("203.0.113.7", 0)),
        ("203.0.113.7, 10.0.0.2", ("203.0.113.7", 0)),
        # The client wrote a forged left part; the right-most untrusted hop is the client.
        ("6.6.6.6, 203.0.113.7, 10.0.0.2, 10.0.0.3", ("203.0.113.7", 0)),
        # Every hop a trusted proxy: the farthest.
        ("10.0.0.5, 10.0.0.2", ("10.0.0.5", 0)),
        ("2001:db8::1", ("2001:db8::1", 0)),
        ("[2001:db8::1]:4711", ("2001:db8::1", 0)),
        ("203.0.113.7:5555", ("203.0.113.7", 0)),
        ("  203.0.113.7  ", ("203.0.113.7", 0)),
    ],
)
def test_x_forwarded_for(value, client):
    assert client_of(("x-forwarded-for", value)) == client


@pytest.mark.parametrize(
    "value",
    ["", "garbage", "203.0.113.7,,10.0.0.2", "unknown", "1.2.3.4, evil.example", "[::1"],
)
def test_x_forwarded_for_junk_concludes_nothing(value):
    assert resolve(headers(("x-forwarded-for", value)), PRIVATE) is None


def test_x_forwarded_for_junk_left_of_the_client_is_never_read():
    assert client_of(("x-forwarded-for", "junk, 203.0.113.7")) == ("203.0.113.7", 0)


def test_x_forwarded_for_on_several_lines_is_one_list():
    pairs = [("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "203.0.113.7, 10.0.0.9")]
    assert client_of(*pairs) == ("203.0.113.7", 0)
    assert client_of(*pairs, trusted=TrustedProxies.parse("*")) == ("6.6.6.6", 0)


# X-Forwarded-Proto / Host / Port ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "scheme"),
    [
        ("https", "https"),
        ("HTTPS", "https"),
        ("http", "http"),
        ("wss", "https"),
        ("ws", "http"),
        ("http, https", "https"),  # the nearest proxy's word counts
        ("ftp", None),
        ("javascript", None),
        ("", None),
    ],
)
def test_x_forwarded_proto(value, scheme):
    facts = resolve(headers(("x-forwarded-proto", value)), PRIVATE)
    assert (facts.scheme if facts else None) == scheme


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("example.com", b"example.com"),
        ("example.com:8443", b"example.com:8443"),
        ("[2001:db8::1]:8443", b"[2001:db8::1]:8443"),
        ("evil.example, example.com", b"example.com"),
        ("example.com/path", None),
        ("exa mple.com", None),
        ("example.com\r\nx: y", None),
        ("user@example.com", None),
    ],
)
def test_x_forwarded_host_validated_like_host(value, host):
    facts = resolve(headers(("x-forwarded-host", value)), PRIVATE)
    assert (facts.host if facts else None) == host


@pytest.mark.parametrize(
    ("value", "port"), [("443", 443), ("8080", 8080), ("0", None), ("65536", None), ("x", None)]
)
def test_x_forwarded_port(value, port):
    facts = resolve(headers(("x-forwarded-port", value)), PRIVATE)
    assert (facts.port if facts else None) == port


# RFC 7239 Forwarded --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "client"),
    [
        ("for=192.0.2.60;proto=http;by=203.0.113.43", ("192.0.2.60", 0)),
        ('for="[2001:db8:cafe::17]:4711"', ("2001:db8:cafe::17", 4711)),
        ('For="192.0.2.43:47011"', ("192.0.2.43", 47011)),
        ("for=192.0.2.43, for=10.0.0.2", ("192.0.2.43", 0)),
        ("for=6.6.6.6, for=192.0.2.43, for=10.0.0.2", ("192.0.2.43", 0)),
        ("for=_hidden, for=10.0.0.2", ("_hidden", 0)),
        ('for="_gazonk:_port"', ("_gazonk", 0)),
        ("for=unknown", None),
        ("for=unknown, for=10.0.0.2", None),
        ('for="\\1\\9\\2.0.2.1"', ("192.0.2.1", 0)),  # quoted-pair escapes
        ("for=10.0.0.7, for=10.0.0.2", ("10.0.0.7", 0)),
        ("proto=https", "unchanged"),
        ("proto=https, for=10.0.0.2", "unchanged"),
    ],
)
def test_forwarded_for(value, client):
    assert client_of(("forwarded", value)) == client


def test_forwarded_proto_and_host_come_from_the_clients_hop():
    value = "for=6.6.6.6;proto=http;host=evil.example, for=192.0.2.43;proto=https;host=a.example"
    facts = resolve(headers(("forwarded", value + ", for=10.0.0.2;proto=http")), PRIVATE)
    assert facts == Forwarding(True, ("192.0.2.43", 0), "https", b"a.example", None)


def test_forwarded_beats_x_forwarded():
    facts = resolve(
        headers(
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "http"),
            ("forwarded", 'for=192.0.2.43;proto=https;host="a.example:8443"'),
        ),
        PRIVATE,
    )
    assert facts == Forwarding(True, ("192.0.2.43", 0), "https", b"a.example:8443", None)


@pytest.mark.parametrize(
    "value",
    [
        "for=",
        "for",
        '"for"=1.2.3.4',
        'for="192.0.2.1',
        "for=192.0.2.1;for=192.0.2.2",
        "for=192.0.2.1;;proto=https",
        "for=192.0.2.1,,for=192.0.2.2",
        "for=192.0.2.1 proto=https",
        "for=a\x00b",
        ",",
        "",
        "for=evil.example",  # not a node (RFC 7239 6)
        'for="[2001:db8::1"',
        'for="[2001:db8::1]x"',
        'for="192.0.2.1:99999"',
        "for=192.0.2.1, for=1.2.3",
    ],
)
def test_malformed_forwarded_is_ignored_whole(value):
    pairs = [("forwarded", value), ("x-forwarded-for", "203.0.113.9")]
    assert client_of(*pairs) == ("203.0.113.9", 0)
    assert resolve(headers(("forwarded", value)), PRIVATE) is None


def test_forwarded_bad_proto_and_host_are_dropped():
    facts = resolve(headers(("forwarded", 'for=192.0.2.1;proto=gopher;host="a b"')), PRIVATE)
    assert facts == Forwarding(True, ("192.0.2.1", 0), None, None, None)


_HEADER_NAMES = st.sampled_from(
    [
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
    ]
)


@given(st.lists(st.tuples(_HEADER_NAMES, st.binary(max_size=80)), max_size=6))
def test_any_header_values_never_raise(pairs):
    facts = resolve(pairs, PRIVATE)
    if facts is not None:
        assert facts.scheme in (None, "http", "https")
        assert facts.client is None or isinstance(facts.client[1], int)
