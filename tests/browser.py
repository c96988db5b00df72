"""A real browser for tests: Playwright's sync API driving Debian's Chromium.

Browser tests skip, with the reason, when the ``playwright`` package or the Chromium binary
is missing; they never download a browser (``playwright install`` is not used). A test module
turns the helper into a fixture of the scope it likes::

    from tests.browser import chromium

    @pytest.fixture(scope="module")
    def browser() -> Iterator[Browser]:
        yield from chromium()

and opens pages with `new_page`, which closes their context when the ``with`` block ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "chromium", "new_page"]

CHROMIUM = "/usr/bin/chromium"
# Headless and quiet: no sandbox (tests may run as root), no GPU, and nothing that phones
# home, updates itself or syncs while a test runs.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
TIMEOUT_MS = 10_000  # for every auto-waiting action and expect(); well under pytest's 60 s


def chromium() -> Iterator[Browser]:
    """Yield a launched headless Chromium and close it afterwards; a generator for a fixture.

    Skips the test when playwright is not installed or `CHROMIUM` does not exist. A Chromium
    that exists but fails to start is an error, not a skip.
    """
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def new_page(
    browser: Browser, width: int = 1000, height: int = 700, **options: Any
) -> Iterator[Page]:
    """A page in a fresh context (own cookies and cache) with a `width` x `height` viewport.

    `options` go to ``browser.new_context`` (``color_scheme="dark"``, ``is_mobile=True``, ...).
    """
    context = browser.new_context(viewport={"width": width, "height": height}, **options)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
