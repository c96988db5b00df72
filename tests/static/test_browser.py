"""The listing page in a real browser: sorting, navigation, downloads and the phone layout.

Chromium (through Playwright, see tests/browser.py) talks to a real porch server serving a
temp folder with `StaticFiles`. No sleeps: navigation is awaited with ``wait_for_url`` and
assertions use Playwright's auto-waiting ``expect``.

``PORCH_SCREENSHOTS=1 pytest tests/static/test_browser.py`` also rewrites the screenshots in
docs/images/ from a demo folder; normal runs leave them alone.
"""

from __future__ import annotations

import calendar
import os
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from porch.static import StaticFiles
from tests.browser import chromium, new_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
DAY = 86_400.0
T0 = float(calendar.timegm((2026, 11, 20, 9, 30, 0)))

HOSTILE = '<b>&".txt'
LONG = "a-very-long-file-name-without-any-spaces-that-has-to-wrap-on-a-phone.txt"
LONG_DIR = "a-rather-long-folder-name-so-that-the-breadcrumb-has-to-wrap-too"
BLOB = random.Random(1234).randbytes(70_000)
# name -> (content, mtime); sizes all differ and their order is not the name order.
FILES: dict[str, tuple[bytes, float]] = {
    HOSTILE: (b'<b>bold?</b> & "quoted" -- served as text\n', T0 + 3 * DAY),
    LONG: (b"twelve bytes", T0 + 1 * DAY),
    "data.bin": (BLOB, T0 + 4 * DAY),
    "notes.md": (b"# Notes\n" + b"- an item\n" * 149 + b"\n\n", T0),
    "readme.txt": (b"read me\n" * 37 + b"!!!!", T0 + 2 * DAY),
}
FOLDERS = ("docs", "img")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture
def site(tmp_path: Path, serve: Callable[..., Any]) -> Iterator[str]:
    """The URL of a porch server for a folder with `FOLDERS` and `FILES`."""
    for name, (content, mtime) in FILES.items():
        path = tmp_path / name
        path.write_bytes(content)
        os.utime(path, (mtime, mtime))
    (tmp_path / "docs" / LONG_DIR).mkdir(parents=True)
    (tmp_path / "docs" / "guide.txt").write_text("The guide.\n")
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    for i, name in enumerate(FOLDERS):  # after filling them, which moves their mtime
        os.utime(tmp_path / name, (T0 - i * DAY, T0 - i * DAY))
    with serve(StaticFiles(tmp_path)) as srv:
        yield srv.url


def rows(page: Page) -> list[tuple[str, str]]:
    """(name, type) of the listed entries, top to bottom, as the browser decoded them."""
    found = page.locator("tr[data-name]").evaluate_all(
        "trs => trs.map(tr => [tr.dataset.name, tr.dataset.type])"
    )
    return [(name, kind) for name, kind in found]


def files(page: Page) -> list[str]:
    return [name for name, kind in rows(page) if kind == "file"]


def at(url: str) -> re.Pattern[str]:
    """`url` exactly, for ``wait_for_url`` (a plain string there is a glob pattern)."""
    return re.compile(re.escape(url) + "$")


def test_listing_sorts_and_escapes(browser: Browser, site: str) -> None:
    from playwright.sync_api import expect

    with new_page(browser) as page:
        page.goto(site + "/")
        expect(page).to_have_title("Index of /")
        by_name = sorted(FILES, key=str.casefold)
        assert rows(page) == [(d, "dir") for d in FOLDERS] + [(f, "file") for f in by_name]
        # The hostile name is text everywhere: no <b> element got into the page.
        hostile = page.locator("tr[data-type=file]").first
        expect(hostile.locator("td.n a")).to_have_text(HOSTILE)
        expect(page.locator("#listing b")).to_have_count(0)

        page.locator("#sort-size").click()
        page.wait_for_url(at(site + "/?sort=size&order=asc"))
        expect(page.locator("th[aria-sort]")).to_have_attribute("aria-sort", "ascending")
        ascending = sorted(FILES, key=lambda name: len(FILES[name][0]))
        assert ascending != by_name
        assert files(page) == ascending
        assert [name for name, kind in rows(page) if kind == "dir"] == list(FOLDERS)
        expect(page.locator("tr[data-name='data.bin'] td.s")).to_have_text("68.4 KiB")

        page.locator("#sort-size").click()
        page.wait_for_url(at(site + "/?sort=size&order=desc"))
        expect(page.locator("th[aria-sort]")).to_have_attribute("aria-sort", "descending")
        assert files(page) == ascending[::-1]
        assert rows(page)[:2] == [(d, "dir") for d in FOLDERS]  # folders stay first

        page.locator("#sort-mtime").click()
        page.wait_for_url(at(site + "/?sort=mtime&order=asc"))
        assert files(page) == sorted(FILES, key=lambda name: FILES[name][1])


def test_folder_link_breadcrumb_and_back(browser: Browser, site: str) -> None:
    from playwright.sync_api import expect

    with new_page(browser) as page:
        page.goto(site + "/?sort=size&order=desc")
        page.locator("tr[data-name='docs'] a").click()
        page.wait_for_url(at(site + "/docs/"))
        expect(page).to_have_title("Index of /docs/")
        expect(page.locator("h1")).to_have_text("Index of /docs/")
        expect(page.locator("h1 [aria-current=page]")).to_have_text("docs")
        expect(page.locator("h1 a.root")).to_have_attribute("href", "../")
        assert rows(page) == [(LONG_DIR, "dir"), ("guide.txt", "file")]
        expect(page.locator("footer")).to_contain_text("1 folder, 1 file (11 B)")

        page.locator(f"tr[data-name='{LONG_DIR}'] a").click()
        page.wait_for_url(at(f"{site}/docs/{LONG_DIR}/"))
        expect(page.locator("tr.empty")).to_have_text("This folder is empty.")
        crumbs = page.locator("h1 a")
        expect(crumbs).to_have_text(["/", "docs"])
        crumbs.nth(1).click()  # "docs" in the breadcrumb
        page.wait_for_url(at(site + "/docs/"))

        page.locator("a#parent").click()
        page.wait_for_url(at(site + "/"))
        assert rows(page)[0] == ("docs", "dir")


def test_file_links(browser: Browser, site: str) -> None:
    from playwright.sync_api import expect

    with new_page(browser) as page:
        page.goto(site + "/")
        with page.expect_download() as info:
            page.locator("tr[data-name='data.bin'] a").click()
        download = info.value
        assert download.url == site + "/data.bin"
        assert download.suggested_filename == "data.bin"
        assert download.failure() is None  # waits for the download to end
        assert Path(download.path()).read_bytes() == BLOB

        # A text file opens in the tab; its percent-encoded link leads to the right file.
        page.locator("tr[data-type=file]", has_text=HOSTILE).locator("a").click()
        page.wait_for_url(at(site + "/%3Cb%3E%26%22.txt"))
        expect(page.locator("body")).to_have_text(FILES[HOSTILE][0].decode().strip())


@pytest.mark.parametrize("path", ["/", f"/docs/{LONG_DIR}/"])
def test_phone_has_no_horizontal_scroll(browser: Browser, site: str, path: str) -> None:
    from playwright.sync_api import expect

    with new_page(browser, 390, 800, is_mobile=True, has_touch=True) as page:
        page.goto(site + path)
        expect(page.locator("table#listing")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
        # The name column wraps the long name instead of widening the table.
        box = page.locator("table#listing").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390


# --- screenshots for the docs ----------------------------------------------------------------

DEMO_FOLDERS = {"assets": 6.0, "docs": 4.0, "releases": 2.0}  # name -> days before the newest
DEMO_FILES = {  # name -> (size, days before the newest)
    "CHANGELOG.md": (12_650, 0.2),
    "LICENSE": (1_071, 61.0),
    "README.md": (6_344, 1.3),
    "pyproject.toml": (1_478, 3.1),
    "porch-0.1.0-py3-none-any.whl": (186_700, 0.1),
    "porch-0.1.0.tar.gz": (247_517, 0.1),
    "benchmark results.csv": (38_912, 5.7),
    "screenshot.png": (91_204, 9.4),
}


def _demo(root: Path) -> None:
    """A small release folder: three folders and files of assorted sizes and dates."""
    newest = float(calendar.timegm((2026, 11, 25, 16, 42, 0)))
    for name, days in DEMO_FOLDERS.items():
        (root / name).mkdir()
        os.utime(root / name, (newest - days * DAY, newest - days * DAY))
    for name, (size, days) in DEMO_FILES.items():
        with open(root / name, "wb") as file:
            file.truncate(size)  # sparse: the listing only shows the size
        os.utime(root / name, (newest - days * DAY, newest - days * DAY))


@pytest.mark.skipif(
    os.environ.get("PORCH_SCREENSHOTS") != "1", reason="set PORCH_SCREENSHOTS=1 to rewrite"
)
def test_screenshots(browser: Browser, tmp_path: Path, serve: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    # A subfolder, so the page shows the breadcrumb and the parent row too.
    demo = tmp_path / "projects" / "porch"
    demo.mkdir(parents=True)
    _demo(demo)
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    with serve(StaticFiles(tmp_path)) as srv:
        for name, width, height in (
            ("static-listing.png", 1000, 700),
            ("static-listing-phone.png", 390, 800),
        ):
            with new_page(browser, width, height, color_scheme="light") as page:
                page.goto(srv.url + "/projects/porch/")
                expect(page.locator("tr[data-name]")).to_have_count(
                    len(DEMO_FOLDERS) + len(DEMO_FILES)
                )
                expect(page.locator("a#parent")).to_be_visible()
                page.screenshot(path=DOCS_IMAGES / name)
