"""A Django project made by the real ``django-admin startproject`` and ``startapp`` commands,
migrated, its static files collected, a superuser created, then served unmodified by
``porch serve mysite.wsgi:application`` and ``porch serve mysite.asgi:application`` with
porch's static engine at ``/static/`` (no WhiteNoise, no nginx)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import read_response
from tests.hosting.realapps import DEADLINE, Served, porch_serve

pytestmark = pytest.mark.timeout(120)

APPS = ["mysite.wsgi:application", "mysite.asgi:application"]
PASSWORD = "correct horse battery staple"
POLLS_VIEWS = """\
from django.http import HttpResponse, JsonResponse


def index(request):
    return HttpResponse("Hello, world. You're at the polls index.")


def detail(request, question_id):
    return JsonResponse(
        {"question_id": question_id, "q": request.GET.getlist("q"), "path": request.path}
    )


async def vote(request, question_id):
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    return JsonResponse({"voted": question_id, "choice": request.POST.get("choice")})
"""
POLLS_URLS = """\
from django.urls import path

from . import views

app_name = "polls"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:question_id>/", views.detail, name="detail"),
    path("<int:question_id>/vote/", views.vote, name="vote"),
]
"""


def manage(project: Path, *args: str) -> str:
    """``python manage.py ARGS`` in the project; its output (fails with it on error)."""
    env = {**os.environ, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"manage.py {args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Django tutorial's first steps, done by Django's own commands."""
    root = tmp_path_factory.mktemp("django")
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(root)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    manage(root, "startapp", "polls")
    (root / "polls" / "views.py").write_text(POLLS_VIEWS)
    (root / "polls" / "urls.py").write_text(POLLS_URLS)
    urls = root / "mysite" / "urls.py"
    edit(urls, "from django.urls import path", "from django.urls import include, path")
    edit(urls, "urlpatterns = [", 'urlpatterns = [\n    path("polls/", include("polls.urls")),')
    settings = root / "mysite" / "settings.py"
    edit(settings, "DEBUG = True", "DEBUG = False")
    edit(settings, "ALLOWED_HOSTS = []", 'ALLOWED_HOSTS = ["127.0.0.1", "localhost"]')
    edit(settings, "INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "polls.apps.PollsConfig",')
    with settings.open("a") as f:
        f.write('\nSTATIC_ROOT = BASE_DIR / "staticfiles"\n')
    manage(root, "migrate", "--noinput")
    manage(root, "collectstatic", "--noinput")
    manage(
        root, "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com"
    )
    assert (root / "staticfiles" / "admin" / "css" / "base.css").is_file()
    return root


@pytest.fixture(scope="module", params=APPS)
def server(request: pytest.FixtureRequest, project: Path) -> Iterator[Served]:
    static = f"/static={project / 'staticfiles'}"
    with porch_serve(request.param, "--app-dir", str(project), "--static", static) as served:
        yield served


@pytest.fixture
def client(server: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as http:
        yield http


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


# --- the app and its URLs -------------------------------------------------------------------


def test_polls_views_through_the_url_include(client: httpx.Client) -> None:
    index = client.get("/polls/")
    assert index.status_code == 200
    assert index.text == "Hello, world. You're at the polls index."
    assert index.headers["content-type"] == "text/html; charset=utf-8"

    detail = client.get("/polls/42/", params=[("q", "déjà vu"), ("q", "a&b")])
    assert detail.json() == {"question_id": 42, "q": ["déjà vu", "a&b"], "path": "/polls/42/"}

    # APPEND_SLASH: Django redirects to the URL with the slash
    redirect = client.get("/polls/42")
    assert redirect.status_code == 301
    assert redirect.headers["location"] == "/polls/42/"

    assert client.get("/polls/not-a-number/").status_code == 404
    assert client.get("/nowhere/").status_code == 404


def test_async_view_gets_post_data_but_csrf_protects_it(client: httpx.Client) -> None:
    # the vote view is not csrf_exempt: a form POST without a token is refused by Django
    refused = client.post("/polls/3/vote/", data={"choice": "yes"})
    assert refused.status_code == 403
    assert "CSRF verification failed" in refused.text


def test_host_header_checked_by_django(server: Served) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        sock.sendall(b"GET /polls/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        status, _, _ = read_response(sock, DEADLINE)
    assert status == 400  # DisallowedHost: ALLOWED_HOSTS is the app's, porch passes Host on


# --- the admin ------------------------------------------------------------------------------


def test_admin_login_page_renders(client: httpx.Client) -> None:
    response = client.get("/admin/", follow_redirects=True)
    assert response.status_code == 200
    assert response.url.path == "/admin/login/"
    assert response.url.params["next"] == "/admin/"
    assert '<form action="/admin/login/?next=/admin/" method="post" id="login-form">' in (
        response.text
    )
    assert 'name="username"' in response.text
    assert 'name="password"' in response.text
    csrf_token(response.text)
    assert "csrftoken" in client.cookies
    assert re.search(r'<link rel="stylesheet" href="/static/admin/css/base\.css"', response.text)


def test_admin_css_served_by_the_static_engine(client: httpx.Client, project: Path) -> None:
    css = (project / "staticfiles" / "admin" / "css" / "base.css").read_bytes()
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.content == css
    etag = response.headers["etag"]
    assert "last-modified" in response.headers
    assert response.headers["accept-ranges"] == "bytes"

    partial = client.get("/static/admin/css/base.css", headers={"Range": "bytes=0-99"})
    assert partial.status_code == 206
    assert partial.headers["content-range"] == f"bytes 0-99/{len(css)}"
    assert partial.content == css[:100]

    not_modified = client.get("/static/admin/css/base.css", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304

    assert client.get("/static/admin/css/no-such.css").status_code == 404


def test_static_prefix_does_not_escape_static_root(server: Served) -> None:
    for target in ["/static/../mysite/settings.py", "/static/%2e%2e/mysite/settings.py"]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
            request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            sock.sendall(request.encode())
            status, _, body = read_response(sock, DEADLINE)
        assert status in (400, 404), (target, status)
        assert b"SECRET_KEY" not in body


def test_admin_login_with_csrf_token(client: httpx.Client, server: Served) -> None:
    login_url = f"{server.url}/admin/login/?next=/admin/"
    page = client.get(login_url)
    token = csrf_token(page.text)
    response = client.post(
        login_url,
        data={
            "csrfmiddlewaretoken": token,
            "username": "admin",
            "password": PASSWORD,
            "next": "/admin/",
        },
        headers={"Referer": login_url},
    )
    assert response.status_code == 302, response.text[:2000]
    assert response.headers["location"] == "/admin/"
    assert "sessionid" in client.cookies

    admin = client.get("/admin/")
    assert admin.status_code == 200
    assert "Site administration" in admin.text
    assert "<strong>admin</strong>" in admin.text  # "Welcome, admin."
    users = client.get("/admin/auth/user/")
    assert users.status_code == 200
    assert "1 user" in users.text


def test_admin_login_with_wrong_password_shows_the_form_again(
    client: httpx.Client, server: Served
) -> None:
    login_url = f"{server.url}/admin/login/"
    token = csrf_token(client.get(login_url).text)
    response = client.post(
        login_url,
        data={"csrfmiddlewaretoken": token, "username": "admin", "password": "wrong"},
        headers={"Referer": login_url},
    )
    assert response.status_code == 200
    assert "Please enter the correct username and password" in response.text
    assert "sessionid" not in client.cookies


def test_post_without_csrf_token_is_forbidden(client: httpx.Client) -> None:
    response = client.post(
        "/admin/login/", data={"username": "admin", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 403
    assert "CSRF verification failed" in response.text
    assert "sessionid" not in client.cookies


# --- behind a proxy -------------------------------------------------------------------------


@pytest.mark.parametrize("prefix_in_path", [False, True], ids=["proxy-strips", "proxy-keeps"])
@pytest.mark.parametrize("app", APPS)
def test_root_path_prefixes_django_urls(project: Path, app: str, prefix_in_path: bool) -> None:
    """``--root-path /site``: Django's redirects and links carry the prefix, under WSGI
    (``SCRIPT_NAME``) and ASGI (``root_path``) alike, whether or not the proxy strips it."""
    sent = "/site" if prefix_in_path else ""
    with porch_serve(app, "--app-dir", str(project), "--root-path", "/site") as server:
        with httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
            redirect = client.get(f"{sent}/admin/")
            index = client.get(f"{sent}/polls/")
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "/site/admin/login/?next=/site/admin/"
    assert index.text == "Hello, world. You're at the polls index."
