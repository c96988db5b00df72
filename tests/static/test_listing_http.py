"""The listing page over HTTP: negotiated by Accept, so it varies by Accept and revalidates."""

from __future__ import annotations

import httpx

from porch import StaticFiles


def test_listing_varies_by_accept_and_answers_304_to_its_etag(serve, tmp_path):
    (tmp_path / "a.txt").write_text("a")
    with serve(StaticFiles(tmp_path)) as srv, httpx.Client(base_url=srv.url) as client:
        page = client.get("/")
        data = client.get("/", headers={"accept": "application/json"})
        assert page.headers["content-type"].startswith("text/html")
        assert data.headers["content-type"] == "application/json"
        for response in (page, data):
            assert response.headers["vary"] == "accept"
            assert response.headers["etag"].startswith('"')
        assert page.headers["etag"] != data.headers["etag"]
        again = client.get("/", headers={"if-none-match": page.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        (tmp_path / "b.txt").write_text("b")  # the page changes, so does its validator
        changed = client.get("/", headers={"if-none-match": page.headers["etag"]})
        assert changed.status_code == 200
        assert "b.txt" in changed.text
