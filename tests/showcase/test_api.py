"""The JSON API: validated bodies, tokens, 401/404/422 that say what to fix, OpenAPI docs."""

from __future__ import annotations

from openapi_spec_validator import validate as validate_spec

from tests.showcase.conftest import register, unique


def test_reading_is_public(client):
    posts = client.get("/api/posts?limit=2").json()
    assert len(posts) == 2
    assert posts[0]["id"] > posts[1]["id"]
    older = client.get(f"/api/posts?before={posts[0]['id']}&limit=1").json()
    assert older[0]["id"] == posts[1]["id"]
    first = client.get("/api/posts/1").json()
    assert first["author"] == "ada"
    assert first["created_at"].endswith(("Z", "+00:00"))  # UTC, said so (not local time)
    assert [c["author"] for c in first["comments"]] == ["linus", "demo"]


def test_writing_takes_a_token(client):
    token = register(client, unique("api"))
    auth = {"authorization": f"Bearer {token}"}
    with_cookie_only = client.post("/api/posts", json={"title": "t", "body": "b"})
    assert with_cookie_only.status_code == 401
    assert "Authorization: Bearer" in with_cookie_only.json()["detail"]
    assert with_cookie_only.headers["www-authenticate"].startswith("Bearer")
    wrong = client.post(
        "/api/posts", json={"title": "t", "body": "b"}, headers={"authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    created = client.post("/api/posts", json={"title": "From the API", "body": "b"}, headers=auth)
    assert created.status_code == 201
    post = created.json()
    assert client.get(f"/api/posts/{post['id']}").json()["title"] == "From the API"
    comment = client.post(f"/api/posts/{post['id']}/comments", json={"body": "c"}, headers=auth)
    assert comment.status_code == 201
    assert client.get(f"/api/posts/{post['id']}").json()["comments"][0]["body"] == "c"
    missing = client.post("/api/posts/999999/comments", json={"body": "c"}, headers=auth)
    assert missing.status_code == 404


def test_invalid_bodies_get_a_422_naming_the_field(client):
    auth = {"authorization": f"Bearer {register(client, unique('bad'))}"}
    empty = client.post("/api/posts", json={"title": "", "body": "x"}, headers=auth)
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["loc"] == ["body", "title"]
    long = client.post("/api/posts", json={"title": "x" * 121, "body": "x"}, headers=auth)
    assert long.status_code == 422
    extra = client.post(
        "/api/posts", json={"title": "t", "body": "b", "admin": True}, headers=auth
    )
    assert extra.status_code == 422
    not_json = client.post(
        "/api/posts", content=b"{", headers={**auth, "content-type": "application/json"}
    )
    assert not_json.status_code in (400, 422)
    assert client.get("/api/posts?limit=0").status_code == 422
    assert client.get("/api/posts?limit=101").status_code == 422
    assert client.get("/api/posts/999999").status_code == 404


def test_the_openapi_document_and_its_docs_page(client):
    spec = client.get("/openapi.json").json()
    assert {"/api/posts", "/api/posts/{id}", "/api/posts/{id}/comments"} <= set(spec["paths"])
    assert not {"/", "/login", "/services/quote", "/live/posts"} & set(spec["paths"])  # pages
    validate_spec(spec)
    body = spec["paths"]["/api/posts"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "openapi.json" in docs.text
