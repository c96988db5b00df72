"""A real FastAPI app hosted by porch (``porch.interfaces.adapt`` on the real server, in
process): validation, parameters, dependencies, streaming, background tasks, exception
handlers and the OpenAPI document, as FastAPI users rely on them."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from openapi_spec_validator import validate

from tests.hosting.apps import fastapiapp
from tests.hosting.realapps import DEADLINE, serve_asgi

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_asgi(fastapiapp.app) as server:
        yield server.url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    fastapiapp.events.reset()
    with httpx.Client(base_url=base_url, timeout=DEADLINE) as http:
        yield http
    fastapiapp.events.stream_release.set()  # never leave an endpoint waiting
    fastapiapp.events.task_release.set()


def test_valid_body_is_echoed_with_defaults(client: httpx.Client) -> None:
    response = client.post("/items", json={"name": "Plumbus", "price": 9.5, "tags": ["home"]})
    assert response.status_code == 200
    assert response.json() == {
        "name": "Plumbus",
        "price": 9.5,
        "tags": ["home"],
        "description": None,
    }


def test_invalid_body_is_a_422_with_fastapi_error_detail(client: httpx.Client) -> None:
    response = client.post("/items", json={"price": -1, "tags": "not-a-list"})
    assert response.status_code == 422
    errors = {tuple(e["loc"]): e["type"] for e in response.json()["detail"]}
    assert errors == {
        ("body", "name"): "missing",
        ("body", "price"): "greater_than",
        ("body", "tags"): "list_type",
    }
    malformed = client.post(
        "/items", content=b'{"name": "x", "price": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["type"] == "json_invalid"


def test_path_and_query_parameters(client: httpx.Client) -> None:
    response = client.get("/items/42", params=[("q", "naïve query"), ("tag", "a"), ("tag", "b")])
    assert response.json() == {"item_id": 42, "q": "naïve query", "limit": 10, "tags": ["a", "b"]}
    assert client.get("/items/7", params={"limit": 3}).json()["limit"] == 3

    not_int = client.get("/items/seven")
    assert not_int.status_code == 422
    assert not_int.json()["detail"][0]["loc"] == ["path", "item_id"]
    too_big = client.get("/items/7", params={"limit": 101})
    assert too_big.status_code == 422
    assert too_big.json()["detail"][0]["loc"] == ["query", "limit"]


def test_dependency_reads_a_header(client: httpx.Client) -> None:
    assert client.get("/me", headers={"X-Token": "user-ann"}).json() == {"user": "ann"}
    refused = client.get("/me", headers={"X-Token": "admin"})
    assert refused.status_code == 401
    assert refused.json() == {"detail": "bad token"}
    missing = client.get("/me")
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["header", "x-token"]


def test_exception_handler(client: httpx.Client) -> None:
    handled = client.get("/unicorns/yolo")
    assert handled.status_code == 418
    assert handled.json() == {"message": "Oops! yolo did something."}
    assert client.get("/unicorns/sparkle").json() == {"unicorn": "sparkle"}
    assert client.get("/no/such/route").json() == {"detail": "Not Found"}


def test_unhandled_exception_is_a_logged_500_and_serving_goes_on(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    response = client.get("/crash")
    assert response.status_code == 500
    assert "a bug in a FastAPI endpoint" not in response.text
    logged = [str(r.exc_info[1]) for r in caplog.records if r.exc_info and r.exc_info[1]]
    assert "a bug in a FastAPI endpoint" in logged, caplog.text
    assert client.get("/unicorns/after").json() == {"unicorn": "after"}


def test_streaming_response_arrives_in_pieces(client: httpx.Client) -> None:
    with client.stream("GET", "/stream", params={"count": 4}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert response.headers["transfer-encoding"] == "chunked"
        chunks = response.iter_raw()
        # the generator waits after its first piece until released: that piece came alone
        assert next(chunks) == b"piece 1\n"
        fastapiapp.events.stream_release.set()
        assert b"".join(chunks) == b"piece 2\npiece 3\npiece 4\n"


def test_background_task_runs_after_the_response(client: httpx.Client) -> None:
    # The task blocks until released: the response can only arrive now if it was sent before
    # the task ran.
    response = client.post("/notify", params={"message": "hello"})
    assert response.json() == {"queued": "hello"}
    assert not fastapiapp.events.task_done.is_set()
    fastapiapp.events.task_release.set()
    assert fastapiapp.events.task_done.wait(DEADLINE)
    assert fastapiapp.events.task_messages == ["hello"]
    # and the connection serves the next request
    assert client.get("/unicorns/next").status_code == 200


def test_openapi_document(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    validate(spec)
    assert spec["info"] == {"title": "Hosted FastAPI", "version": "1.0.0"}
    assert set(spec["paths"]) >= {"/items", "/items/{item_id}", "/me", "/notify", "/stream"}
    assert "Item" in spec["components"]["schemas"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
