"""The demo app that `make demo` starts: every page it lists answers as it says."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from examples.demo import PAGES, SERVER_PAGES, app

EXPECTED = {
    "/users/abc": 404,
    "/search?q=porch&page=two": 422,
    "/error": 500,
    "/teapot": 418,
}


def test_every_listed_page_answers(serve):
    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert "porch is running" in index.text
        for path, method, _ in PAGES:
            assert path.replace("&", "&amp;") in index.text
            if method == "POST":
                response = client.post(path, json={"name": "tea", "quantity": 2})
                assert response.status_code == 201, path
                continue
            expected = EXPECTED.get(path, 200)
            if path == "/clock":
                assert client.get(path).status_code == 200
                continue
            assert client.get(path).status_code == expected, path


def test_pages_do_what_they_say(serve):
    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        assert client.get("/plaintext").text == "Hello, World!"
        assert client.get("/json").json() == {"message": "Hello, World!"}
        assert client.get("/users/42?verbose=true").json() == {
            "id": 42,
            "name": "user-42",
            "url": "/users/42",
        }
        assert client.get("/search?q=x&page=two").json()["detail"][0]["loc"] == ["query", "page"]
        info = client.get("/request?name=porch&tag=a&tag=b", headers={"user-agent": "t"}).json()
        assert info["query"] == {"name": ["porch"], "tag": ["a", "b"]}
        assert info["user_agent"] == "t"
        bad = client.post("/api/items", json={"name": "", "quantity": 0})
        assert bad.status_code == 422
        assert {tuple(e["loc"]) for e in bad.json()["detail"]} >= {("body", "name")}
        sent = client.post("/upload", data={"note": "hi"}, files={"file": ("a.bin", b"x" * 5000)})
        assert sent.json() == {"note": "hi", "filename": "a.bin", "bytes": 5000}
        assert client.get("/visits").text == "You have seen this page 1 time(s).\n"
        assert client.get("/visits").text == "You have seen this page 2 time(s).\n"
        assert client.get("/stream?n=3").text == "line 1 of 3\nline 2 of 3\nline 3 of 3\n"
        assert client.get("/stream?n=0").status_code == 422
        events = client.get("/clock/events?count=2").text
        assert events.count("data: ") == 2
        assert client.get("/blocking").text == "done in a worker thread\n"
        assert client.get("/openapi.json").json()["info"]["title"] == "porch demo"
        assert client.get("/nope").status_code == 404


def test_static_assets_are_served_by_the_static_engine(serve):
    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        css = client.get("/static/demo.css", headers={"accept-encoding": "gzip"})
        assert css.status_code == 200
        assert css.headers["content-encoding"] == "gzip"
        assert "max-age=60" in css.headers["cache-control"]
        assert b"system-ui" in css.content  # httpx decodes the gzip body
        again = client.get(
            "/static/demo.css",
            headers={"if-none-match": css.headers["etag"], "accept-encoding": "gzip"},
        )
        assert again.status_code == 304
        part = client.get("/static/hello.txt", headers={"range": "bytes=0-4"})
        assert part.status_code == 206
        assert part.content == b"porch"
        assert client.get("/static").headers["location"] == "/static/"


def test_server_pages_answer_with_make_demos_flags(serve):
    probes = {"health_path": "/healthz", "ready_path": "/readyz", "metrics_path": "/metrics"}
    with serve(app, **probes) as srv, httpx.Client(base_url=srv.url) as client:
        index = client.get("/").text
        for path, _ in SERVER_PAGES:
            assert f'href="{path}"' in index
            assert client.get(path).status_code == 200, path
        client.get("/plaintext")
        assert "porch_requests_total" in client.get("/metrics").text


def test_make_demo_passes_the_server_pages_flags():
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    for flag in ("--health-path /healthz", "--ready-path /readyz", "--metrics-path /metrics"):
        assert flag in makefile


def test_account_session_flash_csrf_and_cached_page(serve):
    import re

    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        first = client.get("/account")
        assert "seen this page 1 time(s)" in first.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', first.text).group(1)
        saved = client.post("/account", data={"csrf_token": token, "name": "Ann"})
        assert saved.status_code == 303
        shown = client.get("/account").text
        assert "Saved: hello, Ann." in shown and "seen this page 2 time(s)" in shown
        assert "Saved: hello" not in client.get("/account").text  # flashed once
        assert client.post("/account", data={"name": "Eve"}).status_code == 403
        cached = client.get("/cached")
        assert client.get("/cached").text == cached.text
        etag = cached.headers["etag"]
        assert client.get("/cached", headers={"if-none-match": etag}).status_code == 304


def test_notes_are_stored_and_escaped(serve):
    import uuid

    marker = f"<b>note {uuid.uuid4().hex[:8]}</b>"
    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        form = client.get("/notes")
        # The page's form carries a CSRF token (and its cookie): posts need the token.
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None and client.cookies
        assert client.post("/notes", data={"text": marker}).status_code == 403
        added = client.post("/notes", data={"text": marker, "csrf_token": token[1]})
        assert added.status_code == 303 and added.headers["location"] == "/notes"
        page = client.get("/notes").text
        assert marker.replace("<", "&lt;").replace(">", "&gt;") in page
        assert marker not in page
        blank = client.post("/notes", data={"text": "  ", "csrf_token": token[1]})
        assert blank.status_code == 422
