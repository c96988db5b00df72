"""CORS, security headers, trusted hosts, gzip and rate limits, over real sockets."""

from __future__ import annotations

import gzip

import httpx
import pytest

from porch import App, EventStream, Response, StreamingResponse
from porch.cache import RedisCache
from porch.security import CORS, RateLimit, SecurityHeaders, TrustedHosts, parse_rate, rate_limit
from porch.web.gzip import GZip, accepts_gzip
from tests.conftest import exchange
from tests.redis_service import REDIS_URL


def bare() -> App:
    app = App(sessions=False, csrf=False)

    @app.get("/data")
    async def data() -> dict[str, str]:
        return {"hello": "world"}

    @app.post("/data")
    async def post_data() -> dict[str, str]:
        return {"posted": "yes"}

    return app


# CORS -------------------------------------------------------------------------------------


@pytest.fixture
def cors_server(serve):
    app = bare()
    app.middleware(
        CORS(
            ["https://app.example"],
            allow_origin_regex=r"https://[a-z0-9]+\.preview\.example",
            allow_headers=["X-Token"],
            allow_credentials=True,
            expose_headers=["X-Total"],
            max_age=120,
        )
    )
    with serve(app) as server, httpx.Client(base_url=server.url) as client:
        yield client


def test_cors_preflight_allowed(cors_server):
    response = cors_server.options(
        "/data",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-token, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "x-token, content-type"
    assert response.headers["access-control-max-age"] == "120"
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize(
    ("origin", "method", "headers", "reason"),
    [
        ("https://evil.example", "POST", "", "origin https://evil.example is not allowed"),
        ("https://app.example", "TRACE", "", "method TRACE is not allowed"),
        ("https://app.example", "POST", "x-other", "header(s) x-other not allowed"),
    ],
)
def test_cors_preflight_refused(cors_server, origin, method, headers, reason):
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    response = cors_server.options("/data", headers=asked)
    assert response.status_code == 403
    assert reason in response.text
    assert "access-control-allow-origin" not in response.headers


def test_cors_simple_requests(cors_server):
    allowed = cors_server.get("/data", headers={"Origin": "https://pr1.preview.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://pr1.preview.example"
    assert allowed.headers["access-control-expose-headers"] == "X-Total"
    assert allowed.headers["vary"] == "Origin"
    refused = cors_server.get("/data", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 200  # the server answers; the browser hides it
    assert "access-control-allow-origin" not in refused.headers
    assert refused.headers["vary"] == "Origin"
    same = cors_server.get("/data")
    assert "access-control-allow-origin" not in same.headers


def test_cors_wildcard_without_credentials_and_never_with():
    with pytest.raises(ValueError, match="every site"):
        CORS(["*"], allow_credentials=True)
    from porch.web.testing import TestClient

    app = bare()
    app.middleware(CORS(["*"]))
    with TestClient(app) as client:
        response = client.get("/data", headers={"Origin": "https://anyone.example"})
        assert response.headers["access-control-allow-origin"] == "*"
        assert "vary" not in response.headers


# security headers and trusted hosts ---------------------------------------------------------


def test_security_headers_defaults_and_hsts_only_over_https():
    from porch.web.testing import TestClient

    app = bare()
    app.middleware(
        SecurityHeaders(
            hsts_seconds=3600,
            content_security_policy=lambda request: f"default-src 'self'; x-path {request.path}",
        )
    )

    @app.get("/framed")
    async def framed() -> Response:
        return Response(b"ok", headers={"x-frame-options": "SAMEORIGIN"})

    with TestClient(app) as client:
        response = client.get("/data")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cross-origin-opener-policy"] == "same-origin"
        assert response.headers["content-security-policy"] == "default-src 'self'; x-path /data"
        assert "strict-transport-security" not in response.headers
        assert client.get("/framed").headers["x-frame-options"] == "SAMEORIGIN"
    with TestClient(app, base_url="https://testserver") as client:
        assert client.get("/data").headers["strict-transport-security"] == "max-age=3600"


def test_trusted_hosts_refuse_other_hosts_with_400(serve):
    app = bare()
    app.middleware(TrustedHosts(["example.com", "*.example.org", "127.0.0.1"]))
    with serve(app) as server:

        def status(host: str) -> bytes:
            raw = f"GET /data HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            return exchange(server.port, raw.encode())

        assert status("example.com").startswith(b"HTTP/1.1 200")
        assert status("api.example.org:8443").startswith(b"HTTP/1.1 200")
        assert status(f"127.0.0.1:{server.port}").startswith(b"HTTP/1.1 200")
        refused = status("evil.example")
        assert refused.startswith(b"HTTP/1.1 400")
        assert b"Invalid Host header 'evil.example'" in refused
        assert status("example.org").startswith(b"HTTP/1.1 400")  # only subdomains
        assert status("notexample.com").startswith(b"HTTP/1.1 400")


# gzip ----------------------------------------------------------------------------------------


def gzip_app() -> App:
    app = bare()
    app.middleware(GZip(minimum_size=100))

    @app.get("/big")
    async def big() -> Response:
        return Response("word " * 400, media_type="text/plain", headers={"etag": '"v1"'})

    @app.get("/small")
    async def small() -> str:
        return "tiny"

    @app.get("/png")
    async def png() -> Response:
        return Response(b"\x89PNG" + b"\x00" * 1000, media_type="image/png")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def lines():
            for i in range(50):
                yield f"line {i} " * 10 + "\n"

        return StreamingResponse(lines(), media_type="text/plain")

    @app.get("/events")
    async def events() -> EventStream:
        async def one():
            yield "hello"

        return EventStream(one())

    return app


def test_gzip(serve):
    with serve(gzip_app()) as server, httpx.Client(base_url=server.url) as client:
        big = client.get("/big", headers={"accept-encoding": "gzip"})
        assert big.headers["content-encoding"] == "gzip"
        assert big.headers["vary"] == "Accept-Encoding"
        assert big.headers["etag"] == 'W/"v1"'
        assert int(big.headers["content-length"]) < 2000
        assert big.text == "word " * 400  # httpx decodes it
        refused = client.get("/big", headers={"accept-encoding": "gzip;q=0, deflate"})
        assert "content-encoding" not in refused.headers
        assert refused.headers["vary"] == "Accept-Encoding"
        assert "content-encoding" not in client.get("/small").headers
        png = client.get("/png", headers={"accept-encoding": "gzip"})
        assert "content-encoding" not in png.headers
        with client.stream("GET", "/stream", headers={"accept-encoding": "gzip"}) as streamed:
            assert streamed.headers["content-encoding"] == "gzip"
            raw = b"".join(streamed.iter_raw())
        assert gzip.decompress(raw).decode() == "".join(
            f"line {i} " * 10 + "\n" for i in range(50)
        )
        events = client.get("/events", headers={"accept-encoding": "gzip"})
        assert "content-encoding" not in events.headers


def test_accept_encoding_parsing():
    assert accepts_gzip("gzip, deflate, br")
    assert accepts_gzip("br;q=1.0, gzip;q=0.5")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("*;q=0")
    assert not accepts_gzip("identity")
    assert not accepts_gzip(None)
    assert not accepts_gzip("*, gzip;q=0")


# rate limits ----------------------------------------------------------------------------------


def test_parse_rate():
    assert parse_rate("100/minute") == (100, 60)
    assert parse_rate("5 per 10 seconds") == (5, 10)
    assert parse_rate("1000/hour") == (1000, 3600)
    with pytest.raises(ValueError, match="N/unit"):
        parse_rate("lots")


def test_rate_limit_per_route_in_memory():
    from porch.web.testing import TestClient

    app = bare()

    @app.get("/login")
    @rate_limit("3/minute")
    async def login() -> str:
        return "ok"

    with TestClient(app) as client:
        answers = [client.get("/login") for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
        refused = client.get("/login")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "limit is 3 per 60 seconds" in refused.text
        assert client.get("/data").status_code == 200  # another route: not limited
    with TestClient(app, client=("10.0.0.9", 1)) as other_client:
        assert other_client.get("/login").status_code == 200  # another client


def test_rate_limit_shared_by_two_servers_through_redis(serve, redis_prefix):
    def make() -> App:
        cache = RedisCache(REDIS_URL, prefix=redis_prefix)
        app = bare()
        app.middleware(RateLimit("5/minute", cache=cache))
        app.on_shutdown(cache.close)
        return app

    with serve(make()) as one, serve(make()) as two, httpx.Client() as client:
        statuses = [client.get(server.url + "/data").status_code for server in (one, two) * 3]
        assert statuses == [200] * 5 + [429]
        assert client.get(one.url + "/data").status_code == 429
        assert client.get(two.url + "/data").headers["ratelimit-limit"] == "5"
