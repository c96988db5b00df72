"""Blueprints: prefixes, nesting, names, and hooks/middleware/errors that stay in their scope."""

from __future__ import annotations

import httpx
import pytest

from porch import App, Blueprint, HTTPError, Request


def build() -> App:
    app = App()
    bp = Blueprint("bp", url_prefix="/bp")
    api = Blueprint("api", url_prefix="/api")
    v1 = Blueprint("v1", url_prefix="/v1")
    seen: list[str] = []
    app.state.seen = seen

    @app.get("/")
    async def home() -> str:
        return "home"

    @bp.get("")
    async def index() -> str:
        return "This is a blueprint route"

    @bp.get("/items/{id:int}", name="item")
    async def item(id: int) -> dict[str, int]:
        return {"id": id}

    @api.before_request
    def only_api(request: Request) -> None:
        seen.append("api:" + request.path)

    @api.middleware
    async def tag(request: Request, call_next):
        response = await call_next(request)
        response.headers["x-api"] = "yes"
        return response

    @api.error_handler(LookupError)
    async def lookup(request: Request, exc: LookupError):
        return {"error": "not found in api"}, 404

    @v1.get("/users/{name}")
    async def user(name: str) -> dict[str, str]:
        if name == "ghost":
            raise KeyError(name)
        return {"user": name}

    @v1.get("/boom")
    async def boom() -> str:
        raise HTTPError(409, "conflict")

    api.include(v1)
    app.include(bp)
    app.register_blueprint(api)
    return app


@pytest.fixture
def client(serve):
    app = build()
    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        client.app = app
        yield client


def test_blueprint_route_at_its_prefix(client):
    assert client.get("/bp").text == "This is a blueprint route"
    assert client.get("/bp/items/3").json() == {"id": 3}
    assert client.app.url_for("bp.item", id=3) == "/bp/items/3"


def test_nested_blueprints_stack_prefixes_and_names(client):
    assert client.get("/api/v1/users/ann").json() == {"user": "ann"}
    assert client.app.url_for("api.v1.user", name="ann") == "/api/v1/users/ann"


def test_hooks_middleware_and_errors_stay_in_scope(client):
    api_response = client.get("/api/v1/users/ann")
    assert api_response.headers["x-api"] == "yes"
    home = client.get("/")
    assert "x-api" not in home.headers
    assert client.app.state.seen == ["api:/api/v1/users/ann"]
    ghost = client.get("/api/v1/users/ghost")
    assert (ghost.status_code, ghost.json()) == (404, {"error": "not found in api"})
    assert client.get("/api/v1/boom").status_code == 409  # not a LookupError: app default


def test_blueprint_rules():
    with pytest.raises(ValueError):
        Blueprint("a.b")
    with pytest.raises(ValueError):
        Blueprint("x", url_prefix="x/")
    bp = Blueprint("x", url_prefix="/x")
    app = App()
    app.include(bp)
    with pytest.raises(RuntimeError, match="already included"):
        bp.get("/late")(lambda: "late")
