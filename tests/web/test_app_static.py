"""App.static() mounts the static engine; `porch routes` lists an app's routes."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from porch import App


def test_app_static_serves_files_with_the_static_engine(serve, tmp_path):
    (tmp_path / "app.css").write_text("body{}")
    (tmp_path / "sub").mkdir()
    app = App()
    app.static("/assets", tmp_path, max_age=60)

    @app.get("/")
    async def home() -> str:
        return "home"

    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        css = client.get("/assets/app.css")
        assert (css.status_code, css.text) == (200, "body{}")
        assert css.headers["cache-control"] == "public, max-age=60"
        assert client.get("/assets/app.css", headers={"range": "bytes=0-3"}).text == "body"
        assert client.get("/assets/").status_code == 200  # the listing
        assert client.get("/assets/sub").headers["location"] == "/assets/sub/"
        assert client.get("/assets/../secret").status_code == 404
        assert client.post("/assets/app.css").status_code == 405
        assert client.get("/").text == "home"


def test_static_mounts_stay_out_of_the_openapi_document(tmp_path):
    app = App(openapi=True)
    app.static("/assets", tmp_path)

    @app.get("/items")
    async def items() -> list[int]:
        return [1]

    assert list(app.openapi()["paths"]) == ["/items"]


def test_static_prefix_must_be_a_path():
    with pytest.raises(ValueError):
        App().static("assets", ".")


def test_porch_routes_lists_routes(tmp_path):
    module = tmp_path / "routed.py"
    module.write_text(
        "from porch import App, Blueprint\n"
        "app = App()\n"
        "@app.get('/')\n"
        "async def home(): return 'hi'\n"
        "bp = Blueprint('users', url_prefix='/users')\n"
        "@bp.get('/{id:int}')\n"
        "def show(id: int): return {'id': id}\n"
        "app.include(bp)\n"
        "async def plain(request): ...\n"
    )
    run = [sys.executable, "-m", "porch", "routes", "--app-dir", str(tmp_path)]
    listed = subprocess.run([*run, "routed:app"], capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["METHODS", "PATH", "NAME", "HANDLER"]
    assert lines[1].split() == ["GET", "/", "home", "routed:home"]
    assert lines[2].split() == ["GET", "/users/{id:int}", "users.show", "routed:show"]
    wrong = subprocess.run([*run, "routed:plain"], capture_output=True, text=True, timeout=30)
    assert wrong.returncode != 0
    assert "not a porch.App" in wrong.stderr
    assert "Traceback" not in wrong.stderr
