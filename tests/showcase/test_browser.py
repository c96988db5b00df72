"""The showcase in a real browser (Playwright driving Debian's Chromium): register, log in,
post, the post arriving live in a second browser, errors by the fields, CSRF refusals,
logout. With PORCH_SCREENSHOTS=1 the main pages are saved as docs/images/showcase-*.png."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from examples.showcase.bootstrap import DEMO_PASSWORD, DEMO_USERNAME

from porch import App, HTMLResponse
from porch.web.testing import LiveServer, live_server
from tests.browser import chromium, new_page
from tests.showcase.conftest import unique

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
WIDTH, HEIGHT = 1100, 720  # a fixed viewport: the screenshots do not depend on the machine


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


def screenshot(page: Page, name: str) -> None:
    """Save the page for the docs when asked (PORCH_SCREENSHOTS=1), always at one size."""
    if os.environ.get("PORCH_SCREENSHOTS") == "1":
        page.screenshot(path=str(IMAGES / f"showcase-{name}.png"))


def log_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form[action='/login'] button")


def test_register_log_in_post_live_and_log_out(site: LiveServer, browser: Browser) -> None:
    from playwright.sync_api import expect

    url, name, password = site.url, unique("reader"), "correct horse battery"
    with new_page(browser, WIDTH, HEIGHT) as writer, new_page(browser, WIDTH, HEIGHT) as watcher:
        # Register: a mistake first, shown next to its field, with the name kept.
        writer.goto(url + "/register")
        writer.fill("#username", name)
        writer.fill("#password", password)
        writer.fill("#confirm", password + "!")
        writer.click("form[action='/register'] button")
        expect(writer.locator("#confirm-error")).to_have_text("The two passwords differ.")
        expect(writer.locator("#username")).to_have_value(name)
        screenshot(writer, "register-errors")
        writer.fill("#password", password)
        writer.fill("#confirm", password)
        writer.click("form[action='/register'] button")
        expect(writer.locator(".flash.success")).to_have_text(f"Welcome, {name}!")
        expect(writer.locator("nav .user")).to_have_text(name)

        # Log out, then log in again through a page that needs it.
        writer.click("#logout")
        expect(writer.locator(".flash")).to_have_text("Logged out.")
        writer.goto(url + "/account")
        expect(writer).to_have_url(re.compile(r"/login\?next=/account$"))
        expect(writer.locator(".demo-login")).to_contain_text(DEMO_PASSWORD)
        screenshot(writer, "login")
        writer.fill("#username", name)
        writer.fill("#password", password)
        writer.click("form[action='/login'] button")
        expect(writer).to_have_url(url + "/account")
        expect(writer.locator("#api-token")).to_have_text(re.compile(r"\S{40,}"))

        # A second browser (another visitor) watches the home page's live feed.
        watcher.goto(url + "/")
        expect(watcher.locator("body")).to_have_attribute("data-live", "open")
        expect(watcher.locator("#live-status")).to_have_text("live")

        # Post: an empty title first, refused with the text kept.
        writer.goto(url + "/")
        writer.fill("#body", "Typed before the mistake.")
        writer.click("#new-post button")
        expect(writer.locator("#title-error")).to_have_text("A post needs a title.")
        expect(writer.locator("#body")).to_have_value("Typed before the mistake.")
        screenshot(writer, "post-errors")
        title = f"Hello from {name}"
        writer.fill("#title", title)
        writer.click("#new-post button")
        expect(writer.locator("h1")).to_have_text(title)
        expect(writer.locator(".flash.success")).to_have_text("Posted.")

        # ...and it appears in the other browser without a reload.
        arrived = watcher.locator("#posts li.post").first
        expect(arrived.locator("a.title")).to_have_text(title)
        expect(arrived).to_contain_text(f"by {name}")
        screenshot(watcher, "home")

        # A comment on it.
        writer.fill("#body", "First comment!")
        writer.click("#comments form button")
        expect(writer.locator(".comment")).to_contain_text("First comment!")
        screenshot(writer, "post")

        # The stats page and the API docs, for the record.
        writer.goto(url + "/stats")
        expect(writer.locator("#computed-at")).not_to_be_empty()
        screenshot(writer, "stats")

        writer.click("#logout")
        expect(writer.locator("nav")).to_contain_text("Log in")
        writer.goto(url + "/account")
        expect(writer).to_have_url(re.compile(r"/login"))


def forger(target: str) -> App:
    """Another site (another port) whose page posts a form to the showcase on its own."""
    app = App(sessions=False, csrf=False)

    @app.get("/")
    async def page() -> HTMLResponse:
        return HTMLResponse(
            f'<form id="f" method="post" action="{target}/posts">'
            '<input name="title" value="forged"><input name="body" value="x"></form>'
            "<script>document.getElementById('f').submit()</script>"
        )

    return app


def test_posts_without_the_csrf_token_are_refused(site: LiveServer, browser: Browser) -> None:
    from playwright.sync_api import expect

    with new_page(browser, WIDTH, HEIGHT) as page:
        log_in(page, site.url, DEMO_USERNAME, DEMO_PASSWORD)
        expect(page.locator("nav .user")).to_have_text(DEMO_USERNAME)
        # A script of the page itself that leaves the token out.
        status = page.evaluate(
            """async () => (await fetch('/posts', {method: 'POST',
                body: new URLSearchParams({title: 'no token', body: 'x'})})).status"""
        )
        assert status == 403
        # A form on another origin, submitted with the visitor's cookies.
        with live_server(forger(site.url)) as other:
            page.goto(other.url + "/")
            page.wait_for_url(site.url + "/posts")
            expect(page.locator("body")).to_contain_text("CSRF")
    titles = [p["title"] for p in httpx.get(site.url + "/api/posts?limit=100").json()]
    assert "no token" not in titles and "forged" not in titles
