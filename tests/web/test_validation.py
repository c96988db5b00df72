"""Parameters checked from type hints, over real sockets: path, query, header, cookie, body."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from typing import Annotated, Literal, TypedDict

import httpx
import msgspec
import pytest
from msgspec import Meta

from porch import App, Request
from porch.web.params import Body, Cookie, Header, Query


class Color(enum.Enum):
    red = "red"
    blue = "blue"


class Line(msgspec.Struct):
    name: Annotated[str, Meta(min_length=1)]
    qty: Annotated[int, Meta(ge=1)]


class Order(msgspec.Struct):
    items: list[Line]
    note: str = ""


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Label(TypedDict):
    text: str


def validation_app() -> App:
    app = App()

    @app.get("/items/{id:int}")
    async def item(id: Annotated[int, Meta(ge=1, le=1000)]) -> dict[str, object]:
        return {"id": id}

    @app.get("/text/{n}")
    async def text(n: int) -> dict[str, object]:  # a str segment converted by its annotation
        return {"n": n}

    @app.get("/things/{key:uuid}")
    async def thing(key: uuid.UUID) -> dict[str, object]:
        return {"key": str(key)}

    @app.get("/search")
    async def search(
        q: Annotated[str, Query(alias="query"), Meta(min_length=2, max_length=20)],
        page: Annotated[int, Meta(ge=1)] = 1,
        size: Annotated[float, Meta(gt=0, le=1.5)] = 1.0,
        code: Annotated[str, Meta(pattern="^[a-z]{3}$")] | None = None,
        color: Color = Color.red,
        order: Literal["asc", "desc"] = "asc",
        ids: list[int] | None = None,
        exact: bool = False,
    ) -> dict[str, object]:
        return {
            "q": q,
            "page": page,
            "size": size,
            "code": code,
            "color": color.value,
            "order": order,
            "ids": ids,
            "exact": exact,
        }

    @app.get("/echo")
    def echo(value: str = "") -> dict[str, object]:  # a sync handler
        return {"value": value}

    @app.get("/who")
    async def who(
        user_agent: Annotated[str, Header()],
        x_count: Annotated[int, Header(), Meta(ge=0)] = 0,
        token: Annotated[str | None, Header(alias="X-Token")] = None,
        session: Annotated[str | None, Cookie()] = None,
        theme: Annotated[Literal["dark", "light"], Cookie(alias="ui-theme")] = "light",
    ) -> dict[str, object]:
        return {"ua": user_agent, "count": x_count, "token": token, "session": session,
                "theme": theme}  # fmt: skip

    @app.post("/orders")
    async def create(order: Order, dry_run: bool = False) -> tuple[Order, int]:
        return order, 200 if dry_run else 201

    @app.post("/points")
    def point(p: Point) -> Point:
        return Point(p.y, p.x)

    @app.post("/labels")
    async def labels(label: Annotated[Label, Body()]) -> dict[str, object]:
        return {"text": label["text"]}

    @app.post("/batch")
    async def batch(points: list[Point], request: Request) -> dict[str, object]:
        return {"count": len(points), "method": request.method}

    @app.post("/optional")
    async def optional(payload: dict[str, int] | None = None) -> dict[str, object]:
        return {"payload": payload}

    return app


@pytest.fixture
def client(serve):
    with serve(validation_app()) as srv, httpx.Client(base_url=srv.url) as client:
        yield client


def detail(response: httpx.Response) -> list[dict[str, object]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["detail"]


def locs(response: httpx.Response) -> list[list[object]]:
    return [entry["loc"] for entry in detail(response)]


# path ------------------------------------------------------------------------------------------


def test_path_parameters_are_converted_and_constrained(client):
    assert client.get("/items/5").json() == {"id": 5}
    assert locs(client.get("/items/0")) == [["path", "id"]]
    assert detail(client.get("/items/1001"))[0]["msg"] == "Expected `int` <= 1000"
    assert client.get("/items/abc").status_code == 404  # the router's int converter
    assert client.get("/text/12").json() == {"n": 12}
    assert locs(client.get("/text/twelve")) == [["path", "n"]]
    key = "12345678-1234-1234-1234-123456789abc"
    assert client.get(f"/things/{key}").json() == {"key": key}


# query -----------------------------------------------------------------------------------------


def test_query_parameters_valid(client):
    response = client.get(
        "/search",
        params={
            "query": "porch",
            "page": "3",
            "size": "0.5",
            "code": "abc",
            "color": "blue",
            "order": "desc",
            "ids": ["1", "2"],
            "exact": "yes",
        },  # fmt: skip
    )
    assert response.json() == {
        "q": "porch",
        "page": 3,
        "size": 0.5,
        "code": "abc",
        "color": "blue",
        "order": "desc",
        "ids": [1, 2],
        "exact": True,
    }


def test_query_defaults_and_missing_required(client):
    assert client.get("/search?query=ab").json()["page"] == 1
    assert client.get("/search?query=ab").json()["ids"] is None
    missing = detail(client.get("/search"))
    assert missing == [{"loc": ["query", "query"], "msg": "field required"}]


@pytest.mark.parametrize(
    ("query", "loc", "msg"),
    [
        ("query=a", ["query", "query"], "Expected `str` of length >= 2"),
        ("query=" + "a" * 21, ["query", "query"], "Expected `str` of length <= 20"),
        ("query=ab&page=0", ["query", "page"], "Expected `int` >= 1"),
        ("query=ab&page=two", ["query", "page"], "Expected `int`, got 'two'"),
        ("query=ab&size=0", ["query", "size"], "Expected `float` > 0.0"),
        ("query=ab&size=2", ["query", "size"], "Expected `float` <= 1.5"),
        ("query=ab&code=ABC", ["query", "code"], "Expected `str` matching regex '^[a-z]{3}$'"),
        ("query=ab&color=green", ["query", "color"], "Invalid enum value 'green'"),
        ("query=ab&order=up", ["query", "order"], "Invalid enum value 'up'"),
        ("query=ab&ids=1&ids=x", ["query", "ids", 1], "Expected `int`, got `str`"),
        ("query=ab&exact=maybe", ["query", "exact"], "Expected `bool`, got 'maybe'"),
    ],
)
def test_query_constraint_violations(client, query, loc, msg):
    assert detail(client.get("/search?" + query)) == [{"loc": loc, "msg": msg}]


def test_every_failing_field_is_listed_at_once(client):
    response = client.get("/search?page=0&size=9&color=green&order=up&exact=maybe")
    assert locs(response) == [
        ["query", "query"],
        ["query", "page"],
        ["query", "size"],
        ["query", "color"],
        ["query", "order"],
        ["query", "exact"],
    ]


# headers and cookies ---------------------------------------------------------------------------


def test_headers_and_cookies(client):
    response = client.get(
        "/who",
        headers={
            "user-agent": "probe/1",
            "x-count": "3",
            "x-token": "t0k",
            "cookie": "session=abc; ui-theme=dark",
        },  # fmt: skip
    )
    assert response.json() == {
        "ua": "probe/1",
        "count": 3,
        "token": "t0k",
        "session": "abc",
        "theme": "dark",
    }
    defaults = client.get("/who", headers={"user-agent": "x"}).json()
    assert (defaults["count"], defaults["token"], defaults["session"]) == (0, None, None)


def test_header_and_cookie_errors_are_collected(client):
    response = client.get(
        "/who",
        headers={"user-agent": "", "x-count": "-1", "cookie": "ui-theme=neon"},
    )
    assert locs(response) == [["header", "x-count"], ["cookie", "ui-theme"]]
    no_agent = client.build_request("GET", "/who")
    del no_agent.headers["user-agent"]
    assert locs(client.send(no_agent)) == [["header", "user-agent"]]


# body ------------------------------------------------------------------------------------------


def test_struct_body_valid(client):
    order = {"items": [{"name": "tea", "qty": 2}], "note": "quick"}
    response = client.post("/orders", json=order)
    assert (response.status_code, response.json()) == (201, order)
    assert client.post("/orders?dry_run=1", json=order).status_code == 200


def test_nested_body_errors_have_a_location(client):
    response = client.post(
        "/orders?dry_run=perhaps",
        json={"items": [{"name": "tea", "qty": 1}, {"name": "cake", "qty": 0}]},
    )
    assert detail(response) == [
        {"loc": ["query", "dry_run"], "msg": "Expected `bool`, got 'perhaps'"},
        {"loc": ["body", "items", 1, "qty"], "msg": "Expected `int` >= 1"},
    ]
    missing = client.post("/orders", json={"items": [{"qty": 1}]})
    assert detail(missing) == [{"loc": ["body", "items", 0, "name"], "msg": "field required"}]
    wrong = client.post("/orders", json={"items": "none"})
    assert detail(wrong) == [{"loc": ["body", "items"], "msg": "Expected `array`, got `str`"}]


def test_bad_json_wrong_type_and_empty_body(client):
    broken = client.post(
        "/orders", content=b'{"items": [', headers={"content-type": "application/json"}
    )
    [entry] = detail(broken)
    assert entry["loc"] == ["body"] and entry["msg"].startswith("invalid JSON")
    text = client.post("/orders", content=b"{}", headers={"content-type": "text/plain"})
    assert text.status_code == 415
    assert "expected application/json" in text.text
    assert detail(client.post("/orders")) == [{"loc": ["body"], "msg": "field required"}]
    untyped = client.post("/orders", content=b'{"items": []}')  # no Content-Type: taken as JSON
    assert untyped.status_code == 201
    problem = client.post(
        "/orders", content=b'{"items": []}', headers={"content-type": "application/problem+json"}
    )
    assert problem.status_code == 201


def test_dataclass_typeddict_and_list_bodies(client):
    assert client.post("/points", json={"x": 1, "y": 2}).json() == {"x": 2, "y": 1}
    assert locs(client.post("/points", json={"x": 1})) == [["body", "y"]]
    assert client.post("/labels", json={"text": "hi"}).json() == {"text": "hi"}
    assert locs(client.post("/labels", json={"text": 5})) == [["body", "text"]]
    many = client.post("/batch", json=[{"x": 1, "y": 1}, {"x": 2, "y": 2}])
    assert many.json() == {"count": 2, "method": "POST"}
    assert locs(client.post("/batch", json=[{"x": 1, "y": 1}, {"x": "2", "y": 2}])) == [
        ["body", 1, "x"]
    ]


def test_optional_body(client):
    assert client.post("/optional").json() == {"payload": None}
    assert client.post("/optional", json={"a": 1}).json() == {"payload": {"a": 1}}
    assert locs(client.post("/optional", json={"a": "x"})) == [["body", "..."]]


# hostile values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "'; DROP TABLE users; --",
        "<script>alert(1)</script>",
        "Robert'); DELETE FROM students;--",
        "日本語 ✓ \U0001f600",
        "a" * 20_000,
        "%00\\x00",
        "{{7*7}} ${7*7}",
    ],
)
def test_hostile_values_are_plain_data(client, value):
    short = value[:3000]  # a whole request line is limited (414 past it)
    assert client.get("/echo", params={"value": short}).json() == {"value": short}
    order = {"items": [{"name": value, "qty": 1}], "note": value}
    assert client.post("/orders", json=order).json() == order


def test_hostile_values_in_errors_are_quoted_and_cut(client):
    value = "'; DROP TABLE users; --" + "x" * 3000
    [entry] = detail(client.get("/search", params={"query": "ab", "page": value}))
    assert entry["loc"] == ["query", "page"]
    assert entry["msg"].startswith("Expected `int`, got \"'; DROP TABLE")
    assert len(entry["msg"]) < 100
    unicode = detail(client.get("/search", params={"query": "ab", "color": "红"}))
    assert unicode == [{"loc": ["query", "color"], "msg": "Invalid enum value '红'"}]


# declaration errors ----------------------------------------------------------------------------


def test_declaration_errors_are_raised_at_freeze():
    class Opaque:
        pass

    app = App()

    @app.get("/opaque")
    async def opaque(thing: Opaque) -> str:
        return "never"

    with pytest.raises(TypeError, match="thing"):
        app.freeze()

    two = App()

    @two.post("/two")
    async def two_bodies(a: Point, b: Order) -> str:
        return "never"

    with pytest.raises(TypeError, match="only one body parameter"):
        two.freeze()


# pydantic --------------------------------------------------------------------------------------


try:
    import pydantic
except ImportError:  # pragma: no cover - pydantic is optional
    pydantic = None
else:

    class Person(pydantic.BaseModel):
        name: str
        age: int = pydantic.Field(ge=0)


@pytest.mark.skipif(pydantic is None, reason="pydantic is not installed")
def test_pydantic_models_when_installed(serve):
    app = App()

    @app.post("/people")
    async def person(p: Person) -> Person:
        return p

    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        assert client.post("/people", json={"name": "Ann", "age": 3}).json() == {
            "name": "Ann",
            "age": 3,
        }
        errors = detail(client.post("/people", json={"name": 5, "age": -1}))
        assert [e["loc"] for e in errors] == [["body", "name"], ["body", "age"]]
        assert all(isinstance(e["msg"], str) and e["msg"] for e in errors)
        [broken] = detail(
            client.post("/people", content=b"{", headers={"content-type": "application/json"})
        )
        assert broken["loc"] == ["body"]
