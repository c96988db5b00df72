"""CSRF in a real browser (Chromium through Playwright, see tests/browser.py).

A page of the app posts its form and is accepted. A page on another origin posts the same
form to the app and is refused by the CSRF check, with the refusal's reason on screen.

Why the other origin is ``http://127.0.0.1:<another port>``: a browser sends SameSite=Lax
cookies on a cross-SITE top-level POST never, so a page on ``localhost`` posting to
``127.0.0.1`` would arrive without cookies, and porch lets cookie-less requests through (they
carry no ambient authority): that test would prove nothing about porch. A different port on
the same host is the same site but another origin: the cookies ARE sent, so only porch's
check stands between the page and the handler. The evil page even carries a valid token
(as if it had leaked) so that the Origin check alone must refuse it. The refusal message
names the Origin, and porch checks only requests that carry cookies, so seeing it proves
the cookies were sent. If a future Chromium stopped sending Lax cookies to another port of
the same host, the post would arrive without cookies and be accepted: the test then fails
with a message saying so, and should move to a same-site, cross-origin pair of hostnames.

The cookie-less case has its own test: a page on another SITE (``localhost``) posts a login
form to the app (``127.0.0.1``). The browser sends it without cookies, and a login handler
would sign the visitor in as the attacker (login CSRF); porch refuses a form that another
origin posted even without cookies.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from porch import App, HTMLResponse, Request
from porch.security import csrf_token
from tests.browser import chromium, new_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


def bank() -> App:
    app = App(secret_key="b" * 32)

    @app.get("/transfer")
    async def form(request: Request) -> HTMLResponse:
        request.session["user"] = "ann"
        token = html.escape(csrf_token(request))
        return HTMLResponse(
            '<form method="post" action="/transfer">'
            f'<input type="hidden" name="csrf_token" value="{token}">'
            '<input name="amount" value="10"><button id="send">Send</button></form>'
        )

    @app.post("/transfer")
    async def transfer(request: Request) -> HTMLResponse:
        form = await request.form()
        user = request.session.get("user", "nobody")
        return HTMLResponse(f"<p id='done'>{user} sent {html.escape(str(form['amount']))}</p>")

    return app


def attacker(action: str, **fixed: str) -> App:
    """A page posting a form to `action`: the `fixed` fields, and the ``csrf_token`` of its
    query string when given (as if it had leaked)."""
    app = App(sessions=False, csrf=False)

    @app.get("/")
    async def page(token: str = "") -> HTMLResponse:
        fields = {**fixed, "csrf_token": token} if token else fixed
        inputs = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
            for name, value in fields.items()
        )
        return HTMLResponse(
            f'<form method="post" action="{action}">{inputs}<button id="send">Win!</button></form>'
        )

    return app


def test_same_origin_form_posts_and_another_origin_is_refused(
    browser: Browser, serve: Callable[..., Any]
) -> None:
    with serve(bank()) as site, new_page(browser) as page:
        page.goto(site.url + "/transfer")
        page.click("#send")
        page.wait_for_url(site.url + "/transfer")
        assert page.text_content("#done") == "ann sent 10"

        token = page.goto(site.url + "/transfer") and page.input_value("[name=csrf_token]")
        cookies = {c["name"] for c in page.context.cookies(site.url)}
        assert {"porch_session", "porch_csrf"} <= cookies
        with serve(attacker(site.url + "/transfer", amount="1000")) as evil:
            assert evil.url != site.url  # same host, another port: another origin
            page.goto(f"{evil.url}/?token={token}")
            with page.expect_response(site.url + "/transfer") as answer:
                page.click("#send")
            body = page.text_content("body") or ""
            assert answer.value.status == 403, (
                f"the cross-origin post was accepted ({body!r}): 'ann sent' means the cookies "
                "were sent and the CSRF check let it through; 'nobody sent' means the browser "
                "did not send the Lax cookies to another port of the same host (see the module)"
            )
            assert f"Origin {evil.url} does not match {site.url}" in body


def login_site() -> App:
    app = App(secret_key="b" * 32)

    @app.post("/login")
    async def login(request: Request) -> HTMLResponse:
        form = await request.form()
        request.session.regenerate()
        request.session["user"] = str(form["user"])
        return HTMLResponse(f"<p id='done'>signed in as {html.escape(str(form['user']))}</p>")

    return app


def test_another_site_cannot_sign_the_visitor_in(
    browser: Browser, serve: Callable[..., Any]
) -> None:
    with serve(login_site()) as site, new_page(browser) as page:
        with serve(attacker(site.url + "/login", user="mallory")) as evil:
            forger = evil.url.replace("127.0.0.1", "localhost")  # another site
            page.goto(forger + "/")
            with page.expect_response(site.url + "/login") as answer:
                page.click("#send")
            body = page.text_content("body") or ""
            assert answer.value.status == 403, f"the forged login was accepted: {body!r}"
            assert f"Origin {forger} does not match {site.url}" in body
            cookies = {c["name"] for c in page.context.cookies(site.url)}
            assert "porch_session" not in cookies
