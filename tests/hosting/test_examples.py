"""The hosting examples in examples/hosting run on `porch serve` as documented."""

from __future__ import annotations

import httpx

from tests.hosting.realapps import porch_serve


def test_flask_example_serves_its_blueprint_and_stream() -> None:
    with porch_serve("examples.hosting.flask_hello:app") as served:
        assert httpx.get(f"{served.url}/api/greet?name=porch").json() == {
            "greeting": "Hello, porch!"
        }
        assert httpx.get(f"{served.url}/count").text == "1\n2\n3\n4\n5\n"


def test_fastapi_example_validates_its_body() -> None:
    with porch_serve("examples.hosting.fastapi_hello:app") as served:
        assert httpx.post(f"{served.url}/items", json={"name": "pear"}).json() == {
            "name": "pear",
            "quantity": 1,
        }
        assert httpx.post(f"{served.url}/items", json={"quantity": "x"}).status_code == 422
