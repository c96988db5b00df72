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
    # A shared cache must not hand this answer (no grant) to a cross-origin request.
    assert same.headers["vary"] == "Origin"


def test_error_responses_pass_through_the_middleware(serve):
    """A 404, a refused validation or a CSRF 403 is still a response the middleware
    finishes: a page's script can read why its call failed (CORS), an error page is not
    framable, and it says Vary: Origin like the rest."""
    from porch import HTTPError

    app = App(secret_key="k" * 32)
    app.middleware(CORS(["https://app.example"]))
    app.middleware(SecurityHeaders())

    @app.get("/teapot")
    async def teapot() -> str:
        raise HTTPError(418, "short and stout")

    @app.post("/form")
    async def form() -> str:
        return "never without a token"

    origin = {"Origin": "https://app.example"}
    with serve(app) as server, httpx.Client(base_url=server.url) as client:
        for response in (
            client.get("/teapot", headers=origin),
            client.get("/nowhere", headers=origin),
            client.post("/form", headers={**origin, "cookie": "porch_csrf=x"}),
        ):
            assert response.status_code in (418, 404, 403)
            assert response.headers["access-control-allow-origin"] == "https://app.example"
            assert "Origin" in response.headers["vary"]
            assert response.headers["x-frame-options"] == "DENY"
        assert client.get("/teapot").text == "short and stout\n"


def test_cors_wildcard_without_credentials_and_never_with():
    with pytest.raises(ValueError, match="every site"):
        CORS(["*"], allow_credentials=True)
    # Any site's sandboxed iframe (or a data: URL) sends Origin: null: the same as "*".
    with pytest.raises(ValueError, match="Origin: null"):
        CORS(["null"], allow_credentials=True)
    with pytest.raises(ValueError, match="Origin: null"):
        CORS(allow_origin_regex=r".*", allow_credentials=True)
    assert CORS(["null"]).allowed("null")  # without credentials: the page's choice
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
        # The fully qualified form (trailing dot) with a port, any case; IPv6 literals.
        assert status("Example.COM.:8080").startswith(b"HTTP/1.1 200")
        assert status("example.com.").startswith(b"HTTP/1.1 200")
        assert status("example.com.evil:80").startswith(b"HTTP/1.1 400")
    ipv6 = TrustedHosts(["::1", "[fe80::2]"])
    assert ipv6.allowed("[::1]:8000") and ipv6.allowed("[FE80::2]")
    assert not ipv6.allowed("[::2]") and not ipv6.allowed("::1:80")


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


def test_a_compressed_stream_that_is_never_sent_is_still_closed(serve):
    """A HEAD (or a client gone) never iterates the body: closing the compressing wrapper
    before it started skipped its finally, and the handler's stream (a cursor, a file)
    stayed open."""
    import threading

    closed = threading.Event()
    app = bare()
    app.middleware(GZip(minimum_size=1))

    class Rows:  # a body holding a resource (a cursor) until its aclose()
        def __aiter__(self):
            return self.lines()

        async def lines(self):
            for i in range(3):
                yield f"row {i}\n"

        async def aclose(self) -> None:
            closed.set()

    @app.get("/rows")
    async def rows() -> StreamingResponse:
        return StreamingResponse(Rows(), media_type="text/plain")

    with serve(app) as server, httpx.Client(base_url=server.url) as client:
        head = client.head("/rows", headers={"accept-encoding": "gzip"})
        assert head.status_code == 200
        assert head.headers["content-encoding"] == "gzip"
        assert closed.wait(5), "the handler's stream was never closed"


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
    # A zero period divided by zero on every request (500s); "." was a bare float error.
    for rate in ("5 per 0 seconds", "5/0s", "5 per 0.0 minutes", "5 per . seconds"):
        with pytest.raises(ValueError, match="N/unit"):
            parse_rate(rate)


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
        assert 30 < int(refused.headers["retry-after"]) <= 90  # window end + half a period
        assert "limit is 3 per 60 seconds" in refused.text
        assert client.get("/data").status_code == 200  # another route: not limited
    with TestClient(app, client=("10.0.0.9", 1)) as other_client:
        assert other_client.get("/login").status_code == 200  # another client


def test_retry_after_is_when_a_request_fits_again():
    """The previous window's count still weighs on the next one: a client that waits the
    Retry-After it was given must get through, not a new 429. Four hits on a limit of
    3 (the refused one counts) weigh 4 * (1 - x/period) at x into the next window, and one
    more fits when that is at most 2: half a period into it."""
    from porch.web.testing import TestClient

    app = bare()

    @app.get("/login")
    @rate_limit("3 per 1000 hours")  # so long a window that a test never straddles two
    async def login() -> str:
        return "ok"

    with TestClient(app) as client:
        assert [client.get("/login").status_code for _ in range(3)] == [200] * 3
        refused = client.get("/login")
        assert refused.status_code == 429
        reset = int(refused.headers["ratelimit-reset"])  # the end of this window
        assert int(refused.headers["retry-after"]) == reset + 1000 * 3600 // 2


def test_ipv6_clients_are_counted_by_their_64_bit_prefix():
    """One IPv6 subscriber gets a whole /64 (2**64 addresses): counted per address, a
    client could take a new one for every request and never be limited."""
    from porch.web.testing import TestClient

    app = bare()

    @app.get("/login")
    @rate_limit("2/minute")
    async def login() -> str:
        return "ok"

    statuses = []
    for address in ("2001:db8:1:2::1", "2001:db8:1:2::abcd", "2001:db8:1:2:ffff::9"):
        with TestClient(app, client=(address, 1)) as client:
            statuses.append(client.get("/login").status_code)
    assert statuses == [200, 200, 429]
    with TestClient(app, client=("2001:db8:1:3::1", 1)) as client:  # another /64
        assert client.get("/login").status_code == 200
    # IPv4 clients of a dual-stack socket are still counted one by one.
    for address in ("::ffff:192.0.2.1", "::ffff:192.0.2.2", "::ffff:192.0.2.3"):
        with TestClient(app, client=(address, 1)) as client:
            assert client.get("/login").status_code == 200


def test_cached_pages_cannot_flush_the_rate_limit_counts():
    """With the in-process default cache, counts and cached responses shared one LRU:
    requesting enough distinct URLs of a cached page evicted a client's count, and with it
    the login limit."""
    from porch.cache import MemoryCache, cache_response, set_default_cache
    from porch.web.testing import TestClient

    set_default_cache(MemoryCache("porch:", max_entries=20))
    try:
        app = bare()

        @app.post("/login")
        @rate_limit("2/minute")
        async def login() -> str:
            return "ok"

        @app.get("/page")
        @cache_response(ttl=60)
        async def page() -> str:
            return "a page"

        with TestClient(app) as client:
            assert [client.post("/login").status_code for _ in range(2)] == [200, 200]
            for n in range(50):
                assert client.get(f"/page?n={n}").status_code == 200
            assert client.post("/login").status_code == 429
    finally:
        set_default_cache(None)


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
