"""porch.App over real sockets: the classic tutorial pages and the framework's core rules."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from porch import App, HTTPError, Request, Response


def tutorial_app() -> App:
    app = App()

    @app.get("/")
    async def hello(param: str | None = None) -> str:
        if param is not None:
            return f"Received parameter: {param}"
        return "Hello, World!"

    @app.route("/echo-param")
    def echo(request: Request) -> str:  # a sync handler: runs in the thread pool
        return f"Received parameter: {request.args.get('param')}"

    @app.get("/users/{id:int}", name="user")
    async def user(id: int, verbose: bool = False) -> dict[str, object]:
        return {"id": id, "verbose": verbose}

    @app.post("/items")
    async def create(request: Request) -> tuple[dict[str, object], int]:
        return await request.json(), 201

    @app.get("/search")
    async def search(q: str, page: int = 1, tag: list[str] | None = None) -> dict[str, object]:
        return {"q": q, "page": page, "tag": tag}

    @app.get("/docs/")
    async def docs() -> str:
        return "docs"

    @app.get("/teapot")
    async def teapot() -> str:
        raise HTTPError(418, "short and stout")

    @app.get("/where")
    async def where() -> str:
        return app.url_for("user", id=7, verbose=1)

    return app


@pytest.fixture
def client(serve):
    with serve(tutorial_app()) as srv, httpx.Client(base_url=srv.url) as client:
        yield client


def test_tutorial_pages(client):
    hello = client.get("/")
    assert hello.text == "Hello, World!"
    assert hello.headers["content-type"] == "text/html; charset=utf-8"
    assert client.get("/echo-param?param=x").text == "Received parameter: x"
    assert client.get("/?param=x").text == "Received parameter: x"


def test_abort_and_http_exception(serve):
    from porch import HTTPException, abort

    app = App()

    @app.get("/gone")
    async def gone() -> str:
        abort(410, "moved away", {"x-why": "test"})
        return "unreachable"

    @app.get("/denied")
    def denied() -> str:
        raise HTTPException(403, "no")

    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        response = client.get("/gone")
        assert (response.status_code, response.text, response.headers["x-why"]) == (
            410,
            "moved away\n",
            "test",
        )
        assert client.get("/denied").status_code == 403


def test_path_and_query_parameters_are_converted(client):
    assert client.get("/users/42?verbose=yes").json() == {"id": 42, "verbose": True}
    assert client.get("/search?q=a&tag=x&tag=y").json() == {"q": "a", "page": 1, "tag": ["x", "y"]}
    assert client.get("/users/abc").status_code == 404


@pytest.mark.parametrize(
    ("url", "loc"),
    [
        ("/search", ["query", "q"]),
        ("/search?q=a&page=two", ["query", "page"]),
        ("/users/1?verbose=maybe", ["query", "verbose"]),
    ],
)
def test_bad_parameters_are_422_naming_the_field(client, url, loc):
    response = client.get(url)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_return_values_and_errors(client):
    created = client.post("/items", json={"name": "x"})
    assert (created.status_code, created.json()) == (201, {"name": "x"})
    assert client.get("/teapot").status_code == 418
    assert client.get("/teapot").text == "short and stout\n"
    assert client.get("/where").text == "/users/7?verbose=1"


def test_405_head_options_and_slash_redirect(client):
    wrong = client.delete("/")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, HEAD, OPTIONS"
    head = client.head("/")
    assert head.status_code == 200
    assert head.headers["content-length"] == "13"
    options = client.options("/items")
    assert options.status_code == 204
    assert options.headers["allow"] == "OPTIONS, POST"
    moved = client.get("/docs?x=1")
    assert moved.status_code == 308
    assert moved.headers["location"] == "/docs/?x=1"


def test_sync_handlers_do_not_block_the_loop(serve):
    app = App()
    release = threading.Event()

    @app.get("/block")
    def block() -> str:
        release.wait(10)
        return "released"

    @app.get("/ping")
    async def ping() -> str:
        return "pong"

    with serve(app) as srv, httpx.Client(base_url=srv.url, timeout=10) as client:
        with httpx.Client(base_url=srv.url, timeout=10) as other:
            result: list[str] = []
            waiter = threading.Thread(target=lambda: result.append(client.get("/block").text))
            waiter.start()
            assert other.get("/ping").text == "pong"  # answered while /block holds a thread
            release.set()
            waiter.join(10)
            assert result == ["released"]


def test_hooks_middleware_and_error_handlers(serve):
    app = App()
    calls: list[str] = []

    @app.middleware
    async def timing(request: Request, call_next):
        calls.append("mw-in")
        response = await call_next(request)
        response.headers["x-mw"] = "1"
        calls.append("mw-out")
        return response

    @app.before_request
    def before(request: Request):
        calls.append("before")
        if request.path == "/blocked":
            return ("blocked", 403)
        return None

    @app.after_request
    async def after(request: Request, response: Response):
        response.headers["x-after"] = "1"

    @app.error_handler(KeyError)
    async def missing(request: Request, exc: KeyError):
        return {"missing": str(exc)}, 404

    @app.error_handler(404)
    async def not_found(request: Request, exc: HTTPError):
        return "nothing here", 404

    @app.get("/lookup")
    async def lookup() -> str:
        raise KeyError("k")

    @app.get("/ok")
    async def ok() -> str:
        return "ok"

    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        response = client.get("/ok")
        assert (response.text, response.headers["x-mw"], response.headers["x-after"]) == (
            "ok",
            "1",
            "1",
        )
        assert calls == ["mw-in", "before", "mw-out"]
        assert client.get("/blocked").status_code == 403
        assert client.get("/lookup").json() == {"missing": "'k'"}
        assert client.get("/nope").text == "nothing here"


def test_registration_after_serving_is_an_error():
    app = App()

    @app.get("/")
    async def home() -> str:
        return "home"

    asyncio.run(app.startup())
    with pytest.raises(RuntimeError, match="already serving"):
        app.get("/late")(home)
    asyncio.run(app.shutdown())


def test_startup_and_shutdown_hooks_run_with_the_server(serve):
    app = App()
    events: list[str] = []
    app.on_startup(lambda: events.append("up"))
    app.on_shutdown(lambda: events.append("down"))

    @app.get("/")
    async def home() -> str:
        return ",".join(events)

    with serve(app) as srv:
        assert httpx.get(srv.url + "/").text == "up"
    assert events == ["up", "down"]
