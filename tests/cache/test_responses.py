"""@cache_response and ETags over real sockets: what is cached, under which key, and what
never is."""

from __future__ import annotations

import httpx
import pytest

from porch import App, JSONResponse, Request, Response
from porch.cache import ETag, MemoryCache, RedisCache, cache_response, etag_matches
from tests.redis_service import REDIS_URL


def make_app(cache) -> tuple[App, list[str]]:
    app = App(sessions=False, csrf=False)
    calls: list[str] = []

    @app.get("/items")
    @cache_response(ttl=60, cache=cache)
    async def items(request: Request) -> dict[str, object]:
        calls.append("items?" + request.query_string.decode())
        return {"page": request.query.get("page", "1"), "n": len(calls)}

    @app.get("/lang")
    @cache_response(ttl=60, cache=cache)
    async def lang(request: Request) -> Response:
        calls.append("lang")
        language = request.headers.get("accept-language", "en")
        return JSONResponse(
            {"lang": language, "n": len(calls)}, headers={"vary": "Accept-Language"}
        )

    @app.get("/private")
    @cache_response(ttl=60, cache=cache)
    async def private() -> Response:
        calls.append("private")
        return JSONResponse({"n": len(calls)}, headers={"cache-control": "private"})

    @app.get("/cookie")
    @cache_response(ttl=60, cache=cache)
    async def cookie() -> Response:
        calls.append("cookie")
        response = JSONResponse({"n": len(calls)})
        response.set_cookie("seen", "1")
        return response

    @app.get("/missing")
    @cache_response(ttl=60, cache=cache)
    async def missing() -> tuple[str, int]:
        calls.append("missing")
        return "nope", 404

    @app.get("/tagged")
    @cache_response(ttl=60, cache=cache, etag=True)
    async def tagged() -> str:
        calls.append("tagged")
        return "<p>same every time</p>"

    return app, calls


@pytest.fixture(params=["memory", "redis"])
def cache(request):
    if request.param == "memory":
        return MemoryCache()
    return RedisCache(REDIS_URL, request.getfixturevalue("redis_prefix"))


@pytest.fixture
def live(serve, cache):
    app, calls = make_app(cache)
    if isinstance(cache, RedisCache):
        app.on_shutdown(cache.close)
    with serve(app) as server, httpx.Client(base_url=server.url) as client:
        yield client, calls


def test_hit_and_miss_by_full_query_string(live):
    client, calls = live
    first = client.get("/items?page=2")
    assert client.get("/items?page=2").json() == first.json()
    assert calls == ["items?page=2"]
    client.get("/items?page=3")
    client.get("/items?page=2&x=1")
    assert len(calls) == 3
    client.head("/items?page=2")
    assert len(calls) == 3  # HEAD shares GET's entry


def test_vary_request_headers_select_the_entry(live):
    client, calls = live
    fr = client.get("/lang", headers={"accept-language": "fr"}).json()
    de = client.get("/lang", headers={"accept-language": "de"}).json()
    assert (fr["lang"], de["lang"]) == ("fr", "de")
    assert client.get("/lang", headers={"accept-language": "fr"}).json() == fr
    assert calls == ["lang", "lang"]


def test_no_store_request_and_response_are_respected(live):
    client, calls = live
    client.get("/items")
    client.get("/items", headers={"cache-control": "no-cache"})
    assert len(calls) == 2  # a reload asks for a fresh response
    client.get("/private")
    client.get("/private")
    client.get("/cookie")
    client.get("/cookie")
    client.get("/missing")
    client.get("/missing")
    assert calls.count("private") == calls.count("cookie") == calls.count("missing") == 2


def test_etag_and_304_on_if_none_match(live):
    client, calls = live
    first = client.get("/tagged")
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    not_modified = client.get("/tagged", headers={"if-none-match": etag.removeprefix("W/")})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert client.get("/tagged", headers={"if-none-match": '"other"'}).status_code == 200
    assert calls == ["tagged"]


def test_session_pages_are_never_shared():
    app = App(secret_key="k" * 32, csrf=False)
    cache = MemoryCache()

    @app.get("/me")
    @cache_response(ttl=60, cache=cache)
    async def me(request: Request) -> str:
        return str(request.session.get("user", "anonymous"))

    from porch.web.testing import TestClient

    with TestClient(app) as client:
        client.get("/me")
        assert len(cache) == 0


def test_etag_middleware_on_every_dynamic_page(serve):
    app = App(sessions=False, csrf=False)
    app.middleware(ETag())

    @app.get("/page")
    async def page(request: Request) -> str:
        return "hello " + request.query.get("name", "you")

    with serve(app) as server, httpx.Client(base_url=server.url) as client:
        etag = client.get("/page").headers["etag"]
        assert client.get("/page", headers={"if-none-match": f'"x", {etag}'}).status_code == 304
        assert client.get("/page?name=ann", headers={"if-none-match": etag}).status_code == 200
        assert client.post("/page").status_code == 405


def test_weak_comparison():
    assert etag_matches('W/"a"', '"a"')
    assert etag_matches('"a"', 'W/"a"')
    assert etag_matches('"a"', "*")
    assert not etag_matches('"a"', '"b", W/"c"')


def test_an_entry_of_another_shape_is_a_miss_not_an_error():
    from porch.web.testing import TestClient

    cache = MemoryCache()
    app, calls = make_app(cache)
    with TestClient(app) as client:
        client.get("/items")
        for key in list(cache._data):
            cache.set_sync(key, [], 60)  # e.g. written by another porch version
        assert client.get("/items").status_code == 200
        assert len(calls) == 2


def test_pages_with_a_csrf_token_are_never_shared_and_vary_on_cookie():
    from porch.security import csrf_token
    from porch.web.testing import TestClient

    app = App(secret_key="k" * 32)
    cache = MemoryCache()

    @app.get("/form")
    @cache_response(ttl=60, cache=cache)
    async def form(request: Request) -> str:
        return csrf_token(request)

    with TestClient(app) as client:
        assert client.get("/form").headers["vary"] == "Cookie"
        again = client.get("/form")  # the cookie is set now: still varies
        assert again.headers["vary"] == "Cookie"
        assert len(cache) == 0
