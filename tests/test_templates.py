"""porch.templates: autoescape, url_for and request in templates, blueprint folders,
errors for missing templates, async rendering, and csrf_token() when porch.security exists."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

import porch
from porch.templates import TemplateNotFound, Templates
from porch.web.blueprints import Blueprint
from porch.web.testing import TestClient


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return folder


@pytest.fixture
def site(tmp_path: Path) -> tuple[porch.App, Templates]:
    app_folder = write(
        tmp_path / "templates",
        {
            "layout.html": "<main>{% block body %}{% endblock %}</main>",
            "hello.html": "{% extends 'layout.html' %}{% block body %}Hi {{ name }} "
            "at {{ request.path }} <a href=\"{{ url_for('show', id=7) }}\">7</a>"
            "{% endblock %}",
            "index.html": "app index",
            "feed.xml": "<t>{{ title }}</t>",
            "note.txt": "{{ text }}",
        },
    )
    admin_folder = write(
        tmp_path / "admin_templates",
        {"index.html": "admin index {{ url_for('admin.home') }}", "own.html": "own"},
    )
    app = porch.App()
    templates = Templates(app_folder, app=app)
    admin = Blueprint("admin", url_prefix="/admin", template_folder=admin_folder)

    @app.get("/hello")
    async def hello(request: porch.Request, name: str = "you") -> porch.Response:
        return templates.render(request, "hello.html", name=name)

    @app.get("/items/{id:int}", name="show")
    async def show(id: int) -> str:
        return str(id)

    @app.get("/")
    async def index(request: porch.Request) -> porch.Response:
        return templates.render(request, "index.html")

    @app.get("/feed")
    def feed(request: porch.Request, title: str) -> porch.Response:
        response = templates.render(request, "feed.xml", title=title)
        response.headers["content-type"] = "application/xml"
        return response

    @app.get("/missing")
    async def missing(request: porch.Request) -> porch.Response:
        return templates.render(request, "nope.html")

    @admin.get("/")
    async def home(request: porch.Request) -> porch.Response:
        return templates.render(request, "index.html")

    @admin.get("/explicit")
    async def explicit(request: porch.Request) -> porch.Response:
        return templates.render(request, "index.html", status=201)

    app.include(admin)
    return app, templates


def test_render_with_request_url_for_and_autoescape(site: tuple[porch.App, Templates]) -> None:
    app, _ = site
    with TestClient(app) as client:
        response = client.get("/hello", params={"name": "<script>alert('x')</script>"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.text == (
            "<main>Hi &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; at /hello "
            '<a href="/items/7">7</a></main>'
        )
        assert client.get("/feed", params={"title": "a & b"}).text == "<t>a &amp; b</t>"


def test_text_templates_are_not_escaped_but_strings_are(site: tuple[porch.App, Templates]) -> None:
    _, templates = site
    assert templates.get_template("note.txt").render(text="<b>") == "<b>"
    assert templates.render_string("{{ v }}", v="<b>") == "&lt;b&gt;"
    assert templates.render_string("{{ v|safe }}", v="<b>") == "<b>"


def test_blueprint_folder_comes_first_for_its_routes(site: tuple[porch.App, Templates]) -> None:
    app, templates = site
    with TestClient(app) as client:
        assert client.get("/").text == "app index"
        assert client.get("/admin/").text == "admin index /admin/"
        assert client.get("/admin/explicit").status_code == 201
    # By prefix from anywhere, and by plain name when the app has no template of that name.
    assert templates.get_template("admin/index.html").render(url_for=lambda n: "") != ""
    assert templates.get_template("own.html").render() == "own"


def test_missing_template_is_logged_and_500(
    site: tuple[porch.App, Templates], caplog: pytest.LogCaptureFixture
) -> None:
    app, templates = site
    with TestClient(app) as client:
        assert client.get("/missing").status_code == 500
    with pytest.raises(TemplateNotFound, match=r"template 'nope.html' not found \(tried"):
        templates.get_template("nope.html")


def test_missing_template_on_a_live_server_is_logged(
    site: tuple[porch.App, Templates], caplog: pytest.LogCaptureFixture
) -> None:
    import httpx

    from porch.web.testing import live_server

    app, _ = site
    with caplog.at_level(logging.ERROR, logger="porch.error"), live_server(app) as server:
        assert httpx.get(server.url + "/missing").status_code == 500
    assert "template 'nope.html' not found" in caplog.text


def test_async_rendering(tmp_path: Path) -> None:
    write(tmp_path, {"list.html": "{% for x in items() %}{{ x }},{% endfor %}"})
    app = porch.App()
    templates = Templates(tmp_path, app=app, enable_async=True)

    async def items() -> object:
        for value in ("<a>", "b"):
            yield value

    @app.get("/")
    async def page(request: porch.Request) -> porch.Response:
        return await templates.render_async(request, "list.html", items=items)

    @app.get("/sync")
    async def sync_page(request: porch.Request) -> porch.Response:
        return templates.render(request, "list.html", items=items)

    with TestClient(app) as client:
        assert client.get("/").text == "&lt;a&gt;,b,"
        assert client.get("/sync").status_code == 500  # render() refuses an async environment


def test_context_processors_and_relative_folder(tmp_path: Path) -> None:
    templates = Templates(tmp_path, context_processors=[lambda r: {"who": "proc"}])
    write(tmp_path, {"p.html": "{{ who }} {{ extra }}"})
    app = porch.App()

    @app.get("/")
    async def page(request: porch.Request) -> porch.Response:
        return templates.render(request, "p.html", extra="x")

    with TestClient(app) as client:
        assert client.get("/").text == "proc x"
    relative = Templates("some_folder")
    assert relative.folders == [Path(__file__).resolve().parent / "some_folder"]


def test_csrf_token_in_templates_is_accepted_by_the_check(tmp_path: Path) -> None:
    write(tmp_path, {"form.html": '<input name="csrf_token" value="{{ csrf_token() }}">'})
    app = porch.App()
    templates = Templates(tmp_path, app=app)

    @app.get("/form")
    async def form(request: porch.Request) -> porch.Response:
        return templates.render(request, "form.html")

    @app.post("/form")
    async def post(request: porch.Request) -> str:
        return "saved"

    with TestClient(app) as client:
        page = client.get("/form")
        token = re.search(r'value="([^"]+)"', page.text)
        assert token is not None and client.cookies  # the token's secret rides in a cookie
        forged = ("A" if token[1][0] != "A" else "B") + token[1][1:]  # a first char: 6 bits
        assert client.post("/form", data={"csrf_token": forged}).status_code == 403
        saved = client.post("/form", data={"csrf_token": token[1]})
        assert (saved.status_code, saved.text) == (200, "saved")


def test_csrf_token_needs_the_request(tmp_path: Path) -> None:
    templates = Templates(tmp_path)
    with pytest.raises(RuntimeError, match=r"needs the request"):
        templates.render_string("{{ csrf_token() }}")
