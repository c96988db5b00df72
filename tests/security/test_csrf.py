"""CSRF: missing, wrong, valid and cross-origin requests over real sockets; exemptions;
requests without cookies pass."""

from __future__ import annotations

import re

import httpx
import pytest

from porch import App, Blueprint, Request
from porch.security import CSRF, csrf_exempt, csrf_token
from porch.web.testing import TestClient

KEY = "k" * 32
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_app(**options: object) -> App:
    app = App(secret_key=KEY, **options)  # type: ignore[arg-type]

    @app.get("/form")
    async def form(request: Request) -> str:
        return f'<form method="post"><input name="csrf_token" value="{csrf_token(request)}">'

    @app.post("/submit")
    async def submit(request: Request) -> str:
        return "accepted"

    @app.post("/hook")
    @csrf_exempt
    async def hook() -> str:
        return "hook accepted"

    api = Blueprint("api", url_prefix="/api", csrf=False)

    @api.post("/items")
    async def items() -> str:
        return "api accepted"

    app.include(api)
    return app


def token_from(client: httpx.Client | TestClient, base: str = "") -> str:
    match = TOKEN.search(client.get(base + "/form").text)
    assert match is not None
    return match.group(1)


@pytest.fixture
def live(serve):
    with serve(make_app()) as server, httpx.Client(base_url=server.url) as client:
        yield server, client


def test_a_form_with_its_token_is_accepted(live):
    _, client = live
    token = token_from(client)
    assert "porch_csrf" in client.cookies
    response = client.post("/submit", data={"csrf_token": token, "name": "x"})
    assert response.status_code == 200
    assert response.text == "accepted"


def test_the_header_is_accepted_under_both_names(live):
    _, client = live
    token = token_from(client)
    for header in ("X-CSRF-Token", "X-CSRFToken"):
        response = client.post("/submit", json={"a": 1}, headers={header: token})
        assert response.status_code == 200, header


def test_missing_token_is_refused_saying_so(live):
    _, client = live
    token_from(client)
    response = client.post("/submit", data={"name": "x"})
    assert response.status_code == 403
    assert "CSRF token missing" in response.text


def test_wrong_token_is_refused_saying_so(live):
    server, client = live
    token_from(client)
    with httpx.Client(base_url=server.url) as other:
        someone_elses = token_from(other)
    for bad in (someone_elses, "not-a-token", token_from(client)[:-4] + "AAAA"):
        response = client.post("/submit", data={"csrf_token": bad})
        assert response.status_code == 403
        assert "CSRF token incorrect" in response.text


def test_tokens_are_masked_differently_on_every_render_and_all_work(live):
    _, client = live
    first, second = token_from(client), token_from(client)
    assert first != second
    for token in (first, second):
        assert client.post("/submit", data={"csrf_token": token}).status_code == 200


def test_cross_origin_post_is_refused_even_with_a_valid_token(live):
    server, client = live
    token = token_from(client)
    evil = {"Origin": "https://evil.example"}
    response = client.post("/submit", data={"csrf_token": token}, headers=evil)
    assert response.status_code == 403
    assert "Origin https://evil.example does not match http://127.0.0.1" in response.text
    referer = {"Referer": "https://evil.example/page"}
    response = client.post("/submit", data={"csrf_token": token}, headers=referer)
    assert response.status_code == 403
    assert "Referer https://evil.example does not match" in response.text
    same = {"Origin": server.url}
    assert client.post("/submit", data={"csrf_token": token}, headers=same).status_code == 200


def test_null_origin_is_refused(live):
    _, client = live
    token = token_from(client)
    response = client.post("/submit", data={"csrf_token": token}, headers={"Origin": "null"})
    assert response.status_code == 403
    assert "Origin null" in response.text


def test_requests_without_cookies_pass(live):
    server, _ = live
    response = httpx.post(server.url + "/submit", json={"a": 1})
    assert response.status_code == 200


def test_a_token_without_its_cookie_is_refused(live):
    server, client = live
    token = token_from(client)
    response = httpx.post(
        server.url + "/submit", data={"csrf_token": token}, cookies={"unrelated": "1"}
    )
    assert response.status_code == 403
    assert "CSRF cookie 'porch_csrf' missing or invalid" in response.text


def test_exempt_route_and_blueprint(live):
    _, client = live
    token_from(client)  # the client has cookies now
    assert client.post("/hook").text == "hook accepted"
    assert client.post("/api/items").text == "api accepted"
    assert client.post("/submit").status_code == 403


def test_app_wide_off_and_trusted_origins():
    with TestClient(make_app(csrf=False), cookies={"a": "b"}) as client:
        assert client.post("/submit").status_code == 200
    trusted = CSRF(trusted_origins=("https://*.example.com",))
    with TestClient(make_app(csrf=trusted)) as client:
        token = token_from(client)
        ok = client.post(
            "/submit", data={"csrf_token": token}, headers={"Origin": "https://admin.example.com"}
        )
        assert ok.status_code == 200
        refused = client.post(
            "/submit", data={"csrf_token": token}, headers={"Origin": "https://example.com.evil"}
        )
        assert refused.status_code == 403


def test_https_requires_origin_or_referer():
    with TestClient(make_app(), base_url="https://testserver") as client:
        token = token_from(client)
        response = client.post("/submit", data={"csrf_token": token})
        assert response.status_code == 403
        assert "neither Origin nor Referer" in response.text
        good = client.post(
            "/submit", data={"csrf_token": token}, headers={"Referer": "https://testserver/form"}
        )
        assert good.status_code == 200


def test_bad_trusted_origin_is_an_error():
    with pytest.raises(ValueError, match="scheme://host"):
        CSRF(trusted_origins=("example.com",))


def test_login_rotates_the_csrf_secret():
    app = make_app()

    @app.post("/login")
    async def login(request: Request) -> str:
        request.session.regenerate()
        request.session["user"] = "ann"
        return "in"

    with TestClient(app) as client:
        token = token_from(client)
        assert client.post("/login", data={"csrf_token": token}).status_code == 200
        refused = client.post("/submit", data={"csrf_token": token})
        assert refused.status_code == 403
        assert client.post("/submit", data={"csrf_token": token_from(client)}).status_code == 200


def test_a_form_read_by_the_check_still_gets_the_handlers_limits():
    app = App(secret_key=KEY)

    @app.get("/form")
    async def form(request: Request) -> str:
        return f'name="csrf_token" value="{csrf_token(request)}"'

    @app.post("/upload")
    async def upload(request: Request) -> str:
        form = await request.form(max_file_size=10)
        return str(form["file"].size)  # type: ignore[union-attr]

    with TestClient(app) as client:
        token = token_from(client)
        small = client.post("/upload", data={"csrf_token": token}, files={"file": ("a", b"12345")})
        assert small.text == "5"
        big = client.post("/upload", data={"csrf_token": token}, files={"file": ("a", b"x" * 11)})
        assert big.status_code == 413
        assert "larger than 10 bytes" in big.text
        fields = {"csrf_token": token, **{f"f{i}": "v" for i in range(1001)}}
        many = client.post("/upload", data=fields)
        assert many.status_code == 413
        assert "while reading the form for its CSRF token" in many.text
