"""The demo app that `make demo` starts: every page it lists answers as it says."""

from __future__ import annotations

import httpx
from examples.demo import PAGES, app


def test_every_listed_page_answers(serve):
    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert "porch is running" in index.text
        for path, method, _ in PAGES:
            assert path.replace("&", "&amp;") in index.text
            response = client.request(
                method, path, content=b"x" * 10 if method == "POST" else None
            )
            expected = {"/error": 500, "/teapot": 418}.get(path, 200)
            assert response.status_code == expected, path


def test_pages_do_what_they_say(serve):
    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        assert client.get("/plaintext").text == "Hello, World!"
        assert client.get("/json").json() == {"message": "Hello, World!"}
        info = client.get("/request?name=porch&tag=a&tag=b").json()
        assert info["query"] == {"name": ["porch"], "tag": ["a", "b"]}
        assert info["client"][0] == "127.0.0.1"
        assert client.post("/echo", content=b"hello").content == b"hello"
        assert client.post("/count", content=b"y" * 300_000).json() == {"bytes": 300_000}
        assert client.get("/stream?n=3").text == "line 1 of 3\nline 2 of 3\nline 3 of 3\n"
        assert client.get("/slow?ms=1").text == "answered after 1 ms\n"
        assert client.get("/stream?n=0").status_code == 400
        assert client.get("/nope").status_code == 404
        assert client.get("/echo").headers["allow"] == "POST"


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
        assert client.get("/static/../demo.py").status_code == 404
