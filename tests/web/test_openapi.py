"""OpenAPI 3.1 generated from routes and type hints, and the self-contained /docs page."""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Annotated

import httpx
import msgspec
import pytest
from msgspec import Meta

from porch import App, Request
from porch.web.params import Cookie, Header, Query

try:
    from openapi_spec_validator import validate as validate_spec
except ImportError:  # pragma: no cover - the validator is a test extra
    validate_spec = None


class Line(msgspec.Struct):
    name: str
    qty: Annotated[int, Meta(ge=1)]


class Order(msgspec.Struct):
    items: list[Line]


@dataclasses.dataclass
class Receipt:
    id: int
    total: float


def shop() -> App:
    app = App(openapi=True, title="Shop", version="2.1")

    @app.get("/")
    async def home() -> str:
        return "<h1>shop</h1>"

    @app.get("/items/{id:int}", name="item")
    async def item(id: Annotated[int, Meta(ge=1)], detail: bool = False) -> Line:
        """Read one item.

        The item is looked up by its number."""
        return Line("tea", id)

    @app.get("/files/{name:path}")
    async def file(name, request: Request) -> dict[str, str]:  # unannotated: a string
        return {"name": name}

    @app.get("/keys/{key:uuid}")
    async def key(key: uuid.UUID) -> dict[str, str]:
        return {"key": str(key)}

    @app.get("/search")
    async def search(
        q: Annotated[str, Query(alias="query"), Meta(max_length=50)],
        tags: list[str] | None = None,
        user_agent: Annotated[str | None, Header()] = None,
        session: Annotated[str | None, Cookie()] = None,
    ) -> list[Line]:
        return []

    @app.post("/orders", name="create_order")
    async def create(order: Order) -> Receipt:
        return Receipt(1, 2.5)

    @app.put("/orders/{id:int}")
    async def replace(id: int, order: Order) -> tuple[Receipt, int]:
        return Receipt(id, 0.0), 200

    @app.route("/ping", methods=["GET", "POST"])
    async def ping(request: Request):
        return "pong"

    return app


@pytest.fixture
def client(serve):
    with serve(shop()) as srv, httpx.Client(base_url=srv.url) as client:
        yield client


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


@pytest.mark.skipif(validate_spec is None, reason="openapi-spec-validator is not installed")
def test_the_document_is_valid_openapi_3_1(document):
    validate_spec(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Shop", "version": "2.1"}


def test_paths_use_plain_parameter_syntax_and_hide_the_docs_routes(document):
    assert sorted(document["paths"]) == [
        "/",
        "/files/{name}",
        "/items/{id}",
        "/keys/{key}",
        "/orders",
        "/orders/{id}",
        "/ping",
        "/search",
    ]


def test_operations_ids_summaries_and_methods(document):
    paths = document["paths"]
    item = paths["/items/{id}"]["get"]
    assert item["operationId"] == "item"
    assert item["summary"] == "Read one item."
    assert item["description"] == "The item is looked up by its number."
    assert paths["/orders"]["post"]["operationId"] == "create_order"
    ping = paths["/ping"]
    assert sorted(ping) == ["get", "post"]
    assert {ping["get"]["operationId"], ping["post"]["operationId"]} == {"ping", "ping_post"}
    assert "422" not in ping["get"]["responses"]  # nothing to validate


def test_parameters_with_location_requirement_and_schema(document):
    paths = document["paths"]
    item = paths["/items/{id}"]["get"]["parameters"]
    assert item == [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        },
        {"name": "detail", "in": "query", "required": False, "schema": {"type": "boolean"}},
    ]
    [name] = paths["/files/{name}"]["get"]["parameters"]
    assert name == {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    [key] = paths["/keys/{key}"]["get"]["parameters"]
    assert key["schema"] == {"type": "string", "format": "uuid"}
    search = {p["name"]: p for p in paths["/search"]["get"]["parameters"]}
    assert search["query"] == {
        "name": "query",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "maxLength": 50},
    }
    assert search["tags"]["schema"] == {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]
    }
    assert (search["user-agent"]["in"], search["user-agent"]["required"]) == ("header", False)
    assert search["session"]["in"] == "cookie"


def test_bodies_responses_and_components(document):
    paths = document["paths"]
    create = paths["/orders"]["post"]
    assert create["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}},
    }
    ok = create["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Receipt"}
    replaced = paths["/orders/{id}"]["put"]["responses"]["200"]["content"]["application/json"]
    assert replaced["schema"] == {"$ref": "#/components/schemas/Receipt"}
    invalid = create["responses"]["422"]["content"]["application/json"]["schema"]
    assert invalid == {"$ref": "#/components/schemas/ValidationError"}
    listed = paths["/search"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"] == {"type": "array", "items": {"$ref": "#/components/schemas/Line"}}
    assert paths["/"]["get"]["responses"]["200"]["content"] == {
        "text/html": {"schema": {"type": "string"}}
    }
    schemas = document["components"]["schemas"]
    assert sorted(schemas) == ["Line", "Order", "Receipt", "ValidationError"]
    assert schemas["Line"]["properties"]["qty"] == {"type": "integer", "minimum": 1}
    assert schemas["Order"]["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/Line"
    }
    assert schemas["ValidationError"]["required"] == ["detail"]


def test_the_app_still_validates_what_the_document_describes(client):
    assert client.get("/items/0").status_code == 422
    assert client.post("/orders", json={"items": [{"name": "a", "qty": 1}]}).json() == {
        "id": 1,
        "total": 2.5,
    }


def test_docs_page_is_self_contained(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?//""", html)  # no protocol-relative URL
    assert 'fetch("openapi.json")' in html
    assert ".innerHTML" not in html  # text from the document is never parsed as markup


def test_without_openapi_nothing_is_added(serve):
    app = App()

    @app.get("/")
    async def home() -> str:
        return "home"

    with serve(app) as srv:
        assert httpx.get(srv.url + "/openapi.json").status_code == 404
        assert httpx.get(srv.url + "/docs").status_code == 404
    assert sorted(app.openapi()["paths"]) == ["/"]


try:
    import pydantic
except ImportError:  # pragma: no cover - pydantic is optional
    pydantic = None
else:

    class Person(pydantic.BaseModel):
        name: str
        age: int = pydantic.Field(ge=0)


@pytest.mark.skipif(pydantic is None, reason="pydantic is not installed")
def test_pydantic_models_in_the_document():
    app = App(openapi=True)

    @app.post("/people")
    async def create(p: Person) -> Person:
        return p

    document = app.openapi()
    if validate_spec is not None:
        validate_spec(document)
    schemas = document["components"]["schemas"]
    assert schemas["Person"]["properties"]["age"]["minimum"] == 0
    operation = document["paths"]["/people"]["post"]
    body = operation["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Person"}
    returned = operation["responses"]["200"]["content"]["application/json"]
    assert returned["schema"] == {"$ref": "#/components/schemas/Person"}


# the docs page in a real browser ------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    from tests.browser import chromium

    yield from chromium()


def test_docs_page_renders_operations_in_a_browser(browser, serve):
    from playwright.sync_api import expect

    from tests.browser import new_page

    app = shop()

    @app.get("/hostile")
    async def hostile(q: str = "") -> str:
        """<img src=x onerror="window.pwned=1"> summary"""
        return ""

    with serve(app) as srv, new_page(browser) as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(srv.url + "/docs")
        expect(page.locator("#title")).to_have_text("Shop")
        operations = page.locator("details.op")
        expect(operations).to_have_count(10)  # ping has GET and POST
        order = page.locator("details#create_order")
        order.locator("summary").click()
        expect(order).to_contain_text("Request body (application/json), required")
        expect(order).to_contain_text("Order")
        search = page.locator("details#search")
        search.locator("summary").click()
        expect(search.locator("table")).to_contain_text("user-agent")
        expect(search.locator("table")).to_contain_text("required")
        expect(page.locator("details#hostile summary")).to_contain_text("<img src=x")
        assert page.evaluate("window.pwned") is None
        assert page.locator("#schemas h4").all_text_contents()[:2] == ["Line", "Order"]
        origin = srv.url + "/"
        assert requested and all(url.startswith(origin) for url in requested), requested
