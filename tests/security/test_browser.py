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


def attacker(target: str) -> App:
    app = App(sessions=False, csrf=False)

    @app.get("/")
    async def page(token: str = "") -> HTMLResponse:
        return HTMLResponse(
            f'<form method="post" action="{target}/transfer">'
            f'<input type="hidden" name="csrf_token" value="{html.escape(token)}">'
            '<input type="hidden" name="amount" value="1000"><button id="send">Win!</button>'
            "</form>"
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
        with serve(attacker(site.url)) as evil:
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
