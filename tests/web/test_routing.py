from __future__ import annotations

import uuid

import pytest

from porch.errors import ConfigError, HTTPError
from porch.web.routing import Converter, RedirectSlash, Router


def endpoint(name: str):
    def handler() -> None: ...

    handler.__name__ = name
    return handler


def router(*routes: tuple[str, str, tuple[str, ...]]) -> Router:
    r = Router()
    for path, name, methods in routes:
        r.add(path, endpoint(name), methods)
    r.freeze()
    return r


@pytest.mark.parametrize(
    ("path", "name", "params"),
    [
        ("/", "home", {}),
        ("/users/me", "me", {}),
        ("/users/42", "user", {"id": 42}),
        ("/users/alice", "by_name", {"name": "alice"}),
        ("/files/a/b/c.txt", "file", {"name": "a/b/c.txt"}),
        ("/price/2.50", "price", {"value": 2.5}),
        ("/price/3", "price", {"value": 3.0}),
        (
            "/things/12345678-1234-5678-1234-567812345678",
            "thing",
            {"id": uuid.UUID("12345678-1234-5678-1234-567812345678")},
        ),
        ("/users/42/posts/hello-world", "post", {"id": 42, "slug": "hello-world"}),
    ],
)
def test_match_picks_the_most_specific_route(path, name, params):
    r = router(
        ("/users/{name}", "by_name", ("GET",)),  # registered first, still less specific
        ("/users/{id:int}", "user", ("GET",)),
        ("/users/me", "me", ("GET",)),
        ("/", "home", ("GET",)),
        ("/files/{name:path}", "file", ("GET",)),
        ("/price/{value:float}", "price", ("GET",)),
        ("/things/{id:uuid}", "thing", ("GET",)),
        ("/users/{id:int}/posts/{slug}", "post", ("GET",)),
    )
    found = r.match("GET", path)
    assert found.route.name == name
    assert found.params == params


def test_405_lists_allowed_methods_and_head_follows_get():
    r = router(("/items", "list", ("GET",)), ("/items", "create", ("POST",)))
    assert r.match("HEAD", "/items").route.name == "list"
    with pytest.raises(HTTPError) as caught:
        r.match("DELETE", "/items")
    assert caught.value.status == 405
    assert caught.value.headers == {"allow": "GET, HEAD, OPTIONS, POST"}


@pytest.mark.parametrize("path", ["/nope", "/users/", "/users/42/extra", "/files/", "/price/1e5"])
def test_404(path):
    r = router(
        ("/users/{id:int}", "user", ("GET",)),
        ("/files/{p:path}", "f", ("GET",)),
        ("/price/{v:float}", "p", ("GET",)),
    )
    with pytest.raises(HTTPError) as caught:
        r.match("GET", path)
    assert caught.value.status == 404


def test_trailing_slash_is_strict_with_a_redirect_hint():
    r = router(("/docs/", "docs", ("GET",)), ("/about", "about", ("GET",)))
    with pytest.raises(RedirectSlash) as caught:
        r.match("GET", "/docs")
    assert caught.value.location == "/docs/"
    with pytest.raises(RedirectSlash) as caught:
        r.match("GET", "/about/")
    assert caught.value.location == "/about"


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ([("/a/{x}", "a1", ("GET",)), ("/a/{y}", "a2", ("GET",))], "conflict"),
        ([("/a", "a1", ("GET", "POST")), ("/a", "a2", ("POST",))], "conflict"),
        ([("/a", "same", ("GET",)), ("/b", "same", ("GET",))], "is used for"),
    ],
)
def test_conflicts_are_errors_at_freeze(routes, message):
    r = Router()
    for path, name, methods in routes:
        r.add(path, endpoint(name), methods)
    with pytest.raises(ConfigError, match=message):
        r.freeze()


def test_same_shape_with_other_methods_is_fine():
    r = router(("/a/{x}", "read", ("GET",)), ("/a/{x}", "write", ("PUT",)))
    assert r.match("PUT", "/a/1").route.name == "write"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("users", "must start with"),
        ("/a/{1x}", "not a valid parameter name"),
        ("/a/{x}/{x}", "appears twice"),
        ("/a/{x:nope}", "unknown converter"),
        ("/a/{x", "unbalanced"),
    ],
)
def test_bad_templates(path, message):
    with pytest.raises(ConfigError, match=message):
        Router().add(path, endpoint("x"))


def test_adding_after_freeze_is_an_error():
    r = router(("/", "home", ("GET",)))
    with pytest.raises(RuntimeError, match="frozen"):
        r.add("/late", endpoint("late"))


def test_url_for_is_matching_reversed():
    r = router(
        ("/users/{id:int}/posts/{slug}", "post", ("GET",)),
        ("/files/{name:path}", "file", ("GET",)),
        ("/items", "items", ("GET",)),
    )
    url = r.url_for("post", id=7, slug="a b/c")
    assert url == "/users/7/posts/a%20b%2Fc"
    simple = r.url_for("post", id=7, slug="hello")
    assert r.match("GET", simple).params == {"id": 7, "slug": "hello"}
    assert r.url_for("file", name="a/b c.txt") == "/files/a/b%20c.txt"
    assert r.url_for("items", page=2, tag=["x", "y"]) == "/items?page=2&tag=x&tag=y"
    with pytest.raises(ValueError, match="needs slug"):
        r.url_for("post", id=7)
    with pytest.raises(ValueError, match="non-negative int"):
        r.url_for("post", id="7", slug="x")
    with pytest.raises(KeyError):
        r.url_for("nope")


def test_custom_converter():
    class Slug(Converter):
        regex = "[a-z0-9-]+"

        def to_python(self, value: str) -> str:
            return value.upper()

    r = Router(converters={"str": Converter, "slug": Slug})
    r.add("/t/{tag:slug}", endpoint("tag"))
    assert r.match("GET", "/t/hello-1").params == {"tag": "HELLO-1"}
    with pytest.raises(HTTPError):
        r.match("GET", "/t/Hello")


def test_allowed_methods_for_options():
    r = router(("/a/{x}", "read", ("GET",)), ("/a/{x}", "write", ("PUT",)), ("/b", "b", ("POST",)))
    assert r.allowed_methods("/a/1") == {"GET", "PUT"}
    assert r.allowed_methods("/b") == {"POST"}
    assert r.allowed_methods("/c") == set()
