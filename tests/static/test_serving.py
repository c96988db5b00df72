"""`StaticFiles` over real sockets: headers, validators, conditional requests, ranges, HEAD,
methods, folders, precompressed and on-the-fly gzip, Cache-Control, prefix mounting, the
file cache, files that change while they are sent, pipelining, and the ``porch static`` CLI.

Three body paths are exercised: bytes cached in memory (small files), a read with the head
for uncached files up to 64 KiB, and sendfile for larger ones. `cache_file_size` decides
which files are cached.
"""

from __future__ import annotations

import calendar
import gzip
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest

from porch.static import StaticFiles
from tests.conftest import Reader, recv_all
from tests.static.conftest import (
    DEADLINE,
    ROOT,
    PorchProcess,
    Raw,
    expected_range,
    parse_multipart,
    raw_request,
)

KIB = 1024
MIB = 1024 * KIB
MTIME = calendar.timegm((2026, 1, 2, 3, 4, 5))  # every file's mtime, for fixed dates
DATE = "Fri, 02 Jan 2026 03:04:05 GMT"
EARLIER = "Fri, 02 Jan 2026 03:04:04 GMT"
LATER = "Sat, 03 Jan 2026 00:00:00 GMT"
ETAG_RE = re.compile(r'"[\x21\x23-\x7e]+"')  # strong: no W/ prefix
ALLOW = "GET, HEAD, OPTIONS"


def data(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


CSS = b"body { color: #333; margin: 0 auto; }\n" * 60  # 2280 bytes, compresses well
CSS_BR = b"BROTLI-BYTES:" + data(7, 300)  # the server does not decode siblings
TEXT = b"The quick brown fox jumps over the lazy dog.\n" * 40
FILES = {
    "hello.txt": b"hello world\n",
    "style.css": b"p{}",
    "app.js": b"export {}\n",
    "data.json": b'{"a": 1}',
    "logo.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    "mod.wasm": b"\x00asm\x01\x00\x00\x00",
    "blob.unknownext": b"??",
    "image.png": b"\x89PNG\r\n\x1a\n" + data(8, 2000),
    "small.bin": data(1, 1000),
    "medium.bin": data(2, 100 * KIB),
    "large.bin": data(3, 300 * KIB),
    "a.css": CSS,
    "a.css.gz": gzip.compress(CSS, mtime=0),
    "a.css.br": CSS_BR,
    "text.txt": TEXT,
    "tiny.txt": b"short",
    "empty.txt": b"",
    "sub/index.html": b"<!doctype html><title>sub</title>",
    "sub/page.txt": b"page in sub\n",
    "list/z.txt": b"zz",
    "list/a.txt": b"a",
    "list/<b>&\"x'.txt": b"hostile name",
    "list/b-folder/x": b"x",
    "list/A-folder/x": b"x",
    "list/big.txt": b"b" * 5000,
    "list/.hidden": b"h",
}


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    for name, content in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (MTIME, MTIME))
    return root


@dataclass
class Site:
    port: int
    client: httpx.Client
    root: Path

    def raw(self, target: bytes | str, method: str = "GET", **headers: str) -> Raw:
        return raw_request(self.port, target, method, {_field(k): v for k, v in headers.items()})


def _field(name: str) -> str:
    return name.replace("_", "-")


@pytest.fixture
def site(serve: Callable[..., Any], www: Path) -> Callable[..., Any]:
    """``with site(**options) as s:`` serves `www` with StaticFiles(**options).

    The httpx client asks for identity encoding, so it never decodes a body behind the test's
    back; tests about encodings use raw sockets."""

    @contextmanager
    def run(**options: Any) -> Iterator[Site]:
        with serve(StaticFiles(www, **options)) as srv:
            with httpx.Client(
                base_url=srv.url, headers={"accept-encoding": "identity"}, timeout=DEADLINE
            ) as client:
                yield Site(srv.port, client, www)

    return run


# --- headers of a file ---------------------------------------------------------------------

TYPES = [
    ("hello.txt", "text/plain; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("app.js", "text/javascript; charset=utf-8"),
    ("data.json", "application/json"),
    ("logo.svg", "image/svg+xml; charset=utf-8"),
    ("mod.wasm", "application/wasm"),
    ("image.png", "image/png"),
    ("blob.unknownext", "application/octet-stream"),
    ("small.bin", "application/octet-stream"),
    ("large.bin", "application/octet-stream"),
    ("sub/index.html", "text/html; charset=utf-8"),
]


@pytest.mark.parametrize(("name", "media"), TYPES, ids=[n for n, _ in TYPES])
def test_file_headers(site: Callable[..., Any], name: str, media: str) -> None:
    with site() as s:
        response = s.client.get("/" + name)
    assert response.status_code == 200
    assert response.content == FILES[name]
    assert response.headers["content-type"] == media
    assert response.headers["content-length"] == str(len(FILES[name]))
    assert response.headers["last-modified"] == DATE
    assert ETAG_RE.fullmatch(response.headers["etag"]), response.headers["etag"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["accept-ranges"] == "bytes"
    assert "cache-control" not in response.headers
    assert "vary" not in response.headers
    assert "content-encoding" not in response.headers


def test_empty_file(site: Callable[..., Any]) -> None:
    with site() as s:
        response = s.raw("/empty.txt")
    assert response.status == 200
    assert response.headers["content-length"] == "0"
    assert response.body == b"" and response.extra == b""


def test_etag_differs_between_files_and_is_stable(site: Callable[..., Any]) -> None:
    with site() as s:
        tags = [s.client.get(f"/{n}").headers["etag"] for n in ("small.bin", "large.bin")]
        again = [s.client.get(f"/{n}").headers["etag"] for n in ("small.bin", "large.bin")]
    assert tags == again
    assert tags[0] != tags[1]


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("café é.txt", "/caf%C3%A9%20%c3%a9.txt"),
        ("100%.txt", "/100%25.txt"),
        ("what?.txt", "/what%3F.txt"),
        ("a#b.txt", "/a%23b.txt"),
        ("plain.txt", "/plain.txt?v=3&x=%2e%2e"),
        ("plain.txt", "/pl%61in.txt"),
        ("plain.txt", "/./plain.txt"),
    ],
    ids=["utf8", "percent", "question-mark", "hash", "query-ignored", "encoded-letter", "dot"],
)
def test_encoded_names(site: Callable[..., Any], www: Path, name: str, target: str) -> None:
    (www / name).write_bytes(name.encode())
    with site() as s:
        first = s.raw(target)
        cached = s.raw(target)
    assert first.status == cached.status == 200
    assert first.body == cached.body == name.encode()


# --- conditional requests (RFC 9110 13) --------------------------------------------------------

CONDITIONS = [
    # (header, value; "{etag}" is replaced by the file's ETag) -> status
    ("if-none-match", "{etag}", 304, "inm-exact"),
    ("if-none-match", '"nope", {etag}, "other"', 304, "inm-list"),
    ("if-none-match", "*", 304, "inm-star"),
    ("if-none-match", "W/{etag}", 304, "inm-weak-form"),
    ("if-none-match", '"nope"', 200, "inm-other"),
    ("if-modified-since", DATE, 304, "ims-equal"),
    ("if-modified-since", LATER, 304, "ims-later"),
    ("if-modified-since", EARLIER, 200, "ims-earlier"),
    ("if-modified-since", "not a date", 200, "ims-invalid-ignored"),
    ("if-match", '"nope"', 412, "if-match-mismatch"),
    ("if-match", "{etag}", 200, "if-match-exact"),
    ("if-match", "*", 200, "if-match-star"),
    ("if-unmodified-since", EARLIER, 412, "ius-earlier"),
    ("if-unmodified-since", DATE, 200, "ius-equal"),
]
BODY_PATHS = [
    pytest.param("small.bin", {}, id="cached"),
    pytest.param("large.bin", {}, id="sendfile"),
    pytest.param("small.bin", {"cache_file_size": 100}, id="uncached-inline"),
]


@pytest.mark.parametrize(("name", "options"), BODY_PATHS)
@pytest.mark.parametrize(
    ("field", "value", "status"), [pytest.param(*c[:3], id=c[3]) for c in CONDITIONS]
)
def test_conditional_get(
    site: Callable[..., Any],
    name: str,
    options: dict[str, Any],
    field: str,
    value: str,
    status: int,
) -> None:
    with site(**options) as s:
        etag = s.client.get("/" + name).headers["etag"]
        response = s.raw("/" + name, **{field: value.replace("{etag}", etag)})
    assert response.status == status, response.raw[:300]
    assert response.extra == b""
    if status == 200:
        assert response.body == FILES[name]
        return
    assert response.body == b""
    assert "content-range" not in response.headers
    if status == 304:
        assert response.headers["etag"] == etag
        assert response.headers["last-modified"] == DATE
        assert "content-length" not in response.headers
        assert "content-type" not in response.headers
    else:
        assert response.headers["content-length"] == "0"


def test_not_modified_keeps_cache_control_and_vary(site: Callable[..., Any]) -> None:
    """RFC 9110 15.4.5: a 304 carries the Cache-Control and Vary the 200 would have."""
    with site(max_age=60) as s:
        full = s.raw("/a.css")
        response = s.raw("/a.css", if_none_match=full.headers["etag"])
    assert response.status == 304
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["vary"] == "accept-encoding"


def test_head_with_if_none_match_is_304(site: Callable[..., Any]) -> None:
    with site() as s:
        etag = s.client.get("/large.bin").headers["etag"]
        response = s.raw("/large.bin", "HEAD", if_none_match=etag)
    assert response.status == 304
    assert response.extra == b""


# --- ranges (RFC 9110 14) ----------------------------------------------------------------------

RANGE_PATHS = [
    pytest.param("small.bin", {}, id="small-cached"),
    pytest.param("medium.bin", {}, id="medium-cached"),
    pytest.param("large.bin", {}, id="large-sendfile"),
    pytest.param("small.bin", {"cache_file_size": 100}, id="small-uncached"),
    pytest.param("large.bin", {"cache_file_size": 100}, id="large-uncached"),
]
SINGLE = [
    ("0-99", "first-bytes"),
    ("100-199", "middle"),
    ("-100", "suffix"),
    ("{size_minus_50}-", "open"),
    ("{size_minus_10}-{size_plus_1000}", "beyond-end-clamped"),
    ("0-", "everything"),
    ("1-{size_minus_2}", "all-but-the-ends"),
    ("-{size_plus_1}", "suffix-longer-than-file"),
]


def _spec(template: str, size: int) -> str:
    return template.format(
        size_minus_50=size - 50,
        size_minus_10=size - 10,
        size_minus_2=size - 2,
        size_plus_1=size + 1,
        size_plus_1000=size + 1000,
    )


@pytest.mark.parametrize(("name", "options"), RANGE_PATHS)
@pytest.mark.parametrize("template", [pytest.param(t, id=i) for t, i in SINGLE])
def test_single_range(
    site: Callable[..., Any], name: str, options: dict[str, Any], template: str
) -> None:
    content = FILES[name]
    size = len(content)
    spec = _spec(template, size)
    start, end = expected_range(size, spec)
    with site(**options) as s:
        full = s.raw("/" + name)
        response = s.raw("/" + name, range=f"bytes={spec}")
    assert response.status == 206, response.raw[:300]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["etag"] == full.headers["etag"]
    assert response.headers["last-modified"] == DATE
    assert response.body == content[start : end + 1]
    assert response.extra == b""


MULTI = [
    ("0-9,20-29,-5", [(0, 9), (20, 29), "last5"], "three-parts"),
    ("{size_minus_50}-,0-99", [(0, 99), "last50"], "sorted"),
    ("0-0,2-2,4-4", [(0, 0), (2, 2), (4, 4)], "single-bytes"),
    ("0-99, 500-599 ,900-", [(0, 99), (500, 599), "from900"], "spaces"),
]


def _parts(wanted: list[Any], size: int) -> list[tuple[int, int]]:
    named = {"last5": (size - 5, size - 1), "last50": (size - 50, size - 1)}
    named["from900"] = (900, size - 1)
    return [named[w] if isinstance(w, str) else w for w in wanted]


@pytest.mark.parametrize(("name", "options"), RANGE_PATHS)
@pytest.mark.parametrize(("template", "wanted"), [pytest.param(t, w, id=i) for t, w, i in MULTI])
def test_multiple_ranges(
    site: Callable[..., Any],
    name: str,
    options: dict[str, Any],
    template: str,
    wanted: list[Any],
) -> None:
    content = FILES[name]
    size = len(content)
    with site(**options) as s:
        response = s.raw("/" + name, range=f"bytes={_spec(template, size)}")
        head = s.raw("/" + name, "HEAD", range=f"bytes={_spec(template, size)}")
    assert response.status == 206, response.raw[:300]
    assert "content-range" not in response.headers
    assert response.extra == b""
    parts = parse_multipart(response.body, response.headers["content-type"], size)
    assert [p[0] for p in parts] == _parts(wanted, size)
    for (start, end), media, body in parts:
        assert media == "application/octet-stream"
        assert body == content[start : end + 1]
    assert head.status == 206
    assert head.headers["content-length"] == str(len(response.body))
    assert head.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert head.body == b"" and head.extra == b""


def test_multiple_ranges_larger_than_the_read_size(site: Callable[..., Any]) -> None:
    """Parts bigger than one read (256 KiB) of a file that is not cached."""
    content = data(4, 1 * MIB)
    with site(cache_file_size=100) as s:
        (s.root / "big.bin").write_bytes(content)
        response = s.raw("/big.bin", range="bytes=0-299999,400000-999999,-10")
    parts = parse_multipart(response.body, response.headers["content-type"], len(content))
    assert [p[0] for p in parts] == [(0, 299999), (400000, 999999), (MIB - 10, MIB - 1)]
    for (start, end), _, body in parts:
        assert body == content[start : end + 1]


@pytest.mark.parametrize(("name", "options"), RANGE_PATHS)
@pytest.mark.parametrize(
    ("spec", "merged"),
    [
        ("0-9,5-20,21-30", (0, 30)),
        ("21-30,0-9,5-20", (0, 30)),
        ("0-50,10-20", (0, 50)),
        ("0-9,10-19", (0, 19)),
        ("-5,{size_minus_10}-", "last10"),
    ],
    ids=["overlap-and-adjacent", "unsorted", "contained", "adjacent", "suffix-and-open"],
)
def test_overlapping_ranges_are_merged(
    site: Callable[..., Any], name: str, options: dict[str, Any], spec: str, merged: Any
) -> None:
    content = FILES[name]
    size = len(content)
    start, end = (size - 10, size - 1) if merged == "last10" else merged
    with site(**options) as s:
        response = s.raw("/" + name, range=f"bytes={_spec(spec, size)}")
    assert response.status == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.body == content[start : end + 1]


@pytest.mark.parametrize(("name", "options"), RANGE_PATHS)
@pytest.mark.parametrize(
    "header",
    [
        "bytes=" + ",".join(f"{i * 3}-{i * 3}" for i in range(65)),
        "bytes=5-2",
        "bytes=abc",
        "bytes=0-9,x",
        "lines=0-9",
        "bytes 0-9",
        "bytes=--5",
    ],
    ids=["65-ranges", "reversed", "letters", "one-invalid", "other-unit", "no-equals", "dashes"],
)
def test_ignored_range_gives_the_full_file(
    site: Callable[..., Any], name: str, options: dict[str, Any], header: str
) -> None:
    with site(**options) as s:
        response = s.raw("/" + name, range=header)
    assert response.status == 200
    assert "content-range" not in response.headers
    assert response.body == FILES[name]


@pytest.mark.parametrize(("name", "options"), RANGE_PATHS)
@pytest.mark.parametrize(
    "template",
    ["{size}-", "{size}-{size_plus_10}", "-0", "{size}-,{size_plus_10}-"],
    ids=["start-at-size", "beyond", "zero-suffix", "all-beyond"],
)
def test_unsatisfiable_range(
    site: Callable[..., Any], name: str, options: dict[str, Any], template: str
) -> None:
    size = len(FILES[name])
    spec = template.format(size=size, size_plus_10=size + 10)
    with site(**options) as s:
        response = s.raw("/" + name, range=f"bytes={spec}")
    assert response.status == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.body == b"" and response.extra == b""


def test_unsatisfiable_range_keeps_vary(site: Callable[..., Any]) -> None:
    # a.css has a precompressed twin: its size, hence the 416, depends on Accept-Encoding.
    with site() as s:
        response = s.raw("/a.css", range="bytes=999999-", **{"accept-encoding": "gzip"})
    assert response.status == 416
    assert response.headers["vary"] == "accept-encoding"


def test_range_of_an_empty_file_is_unsatisfiable(site: Callable[..., Any]) -> None:
    with site() as s:
        response = s.raw("/empty.txt", range="bytes=0-")
    assert response.status == 416
    assert response.headers["content-range"] == "bytes */0"


@pytest.mark.parametrize(("name", "options"), RANGE_PATHS)
@pytest.mark.parametrize(
    ("if_range", "ranged"),
    [
        ("{etag}", True),
        ('"stale-etag"', False),
        ("W/{etag}", False),
        (DATE, True),
        (EARLIER, False),
        (LATER, False),
        ("not a date", False),
    ],
    ids=["etag", "stale-etag", "weak-etag", "date", "earlier-date", "later-date", "invalid"],
)
def test_if_range(
    site: Callable[..., Any], name: str, options: dict[str, Any], if_range: str, ranged: bool
) -> None:
    content = FILES[name]
    with site(**options) as s:
        etag = s.client.get("/" + name).headers["etag"]
        response = s.raw(
            "/" + name, range="bytes=10-19", if_range=if_range.replace("{etag}", etag)
        )
    if ranged:
        assert response.status == 206
        assert response.headers["content-range"] == f"bytes 10-19/{len(content)}"
        assert response.body == content[10:20]
    else:
        assert response.status == 200
        assert "content-range" not in response.headers
        assert response.body == content


def test_precondition_failure_beats_range(site: Callable[..., Any]) -> None:
    with site() as s:
        response = s.raw("/small.bin", range="bytes=0-9", if_match='"nope"')
    assert response.status == 412


# --- HEAD ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [
        *BODY_PATHS,
        pytest.param("medium.bin", {}, id="medium-cached"),
        pytest.param("large.bin", {"cache_file_size": 100}, id="large-uncached"),
        pytest.param("hello.txt", {}, id="text"),
        pytest.param("sub/", {}, id="index"),
    ],
)
def test_head_has_the_get_headers_and_no_body(
    site: Callable[..., Any], name: str, options: dict[str, Any]
) -> None:
    with site(**options) as s:
        get = s.raw("/" + name)
        head = s.raw("/" + name, "HEAD")
    assert head.status == get.status == 200
    assert head.body == b""
    assert head.extra == b"", "HEAD sent a body"
    assert {k: v for k, v in head.headers.items() if k != "date"} == {
        k: v for k, v in get.headers.items() if k != "date"
    }
    assert int(head.headers["content-length"]) == len(get.body) > 0


# --- methods ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("target", ["/hello.txt", "/sub/", "/missing"])
def test_unsafe_methods_are_405_with_allow(
    site: Callable[..., Any], method: str, target: str
) -> None:
    with site() as s:
        response = s.client.request(method, target, content=b"x")
    assert response.status_code == 405
    assert response.headers["allow"] == ALLOW


@pytest.mark.parametrize("target", ["/hello.txt", "/sub/", "*"])
def test_options_is_204_with_allow(site: Callable[..., Any], target: str) -> None:
    with site() as s:
        response = s.raw(target, "OPTIONS")
    assert response.status == 204
    assert response.headers["allow"] == ALLOW
    assert "content-length" not in response.headers
    assert response.body == b"" and response.extra == b""


# --- folders ------------------------------------------------------------------------------------


def test_index_html_for_a_folder(site: Callable[..., Any]) -> None:
    with site() as s:
        response = s.client.get("/sub/")
    assert response.status_code == 200
    assert response.content == FILES["sub/index.html"]
    assert response.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/sub", "/sub/"),
        ("/sub?x=1&y=%20z", "/sub/?x=1&y=%20z"),
        ("/list", "/list/"),
        ("/list/b-folder", "/list/b-folder/"),
        ("/sub/.", "/sub/"),
    ],
    ids=["index-folder", "query-kept", "listing-folder", "nested", "dot-segment"],
)
def test_folder_without_slash_redirects(
    site: Callable[..., Any], target: str, location: str
) -> None:
    with site() as s:
        response = s.raw(target)
    assert response.status == 301
    assert response.headers["location"] == location
    assert response.body == b""


def _rows(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr data-name="([^"]*)" data-type="(dir|file)"', page)


def test_listing_page(site: Callable[..., Any]) -> None:
    with site() as s:
        response = s.client.get("/list/")
        by_size = s.client.get("/list/?sort=size&order=desc")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert _rows(page) == [
        ("A-folder", "dir"),
        ("b-folder", "dir"),
        ("&lt;b&gt;&amp;&quot;x&#x27;.txt", "file"),
        ("a.txt", "file"),
        ("big.txt", "file"),
        ("z.txt", "file"),
    ]
    assert "<b>&" not in page
    assert 'href="%3Cb%3E%26%22x%27.txt"' in page
    assert 'href="A-folder/"' in page
    assert ".hidden" not in page
    for key in ("name", "size", "mtime"):
        assert re.search(rf'id="sort-{key}" href="\?sort={key}&amp;order=(asc|desc)"', page)
    # Folders first, in name order; then files by size, largest first.
    assert [n for n, _ in _rows(by_size.text)] == [
        "A-folder",
        "b-folder",
        "big.txt",
        "&lt;b&gt;&amp;&quot;x&#x27;.txt",
        "z.txt",
        "a.txt",
    ]


def test_listing_json(site: Callable[..., Any]) -> None:
    with site() as s:
        response = s.client.get("/list/", headers={"accept": "application/json"})
        html_first = s.client.get("/list/", headers={"accept": "text/html, application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = json.loads(response.content)
    assert document["path"] == "/list/"
    entries = [(e["name"], e["type"], e["size"], e["url"]) for e in document["entries"]]
    assert entries == [
        ("A-folder", "dir", None, "A-folder/"),
        ("b-folder", "dir", None, "b-folder/"),
        ("<b>&\"x'.txt", "file", 12, "%3Cb%3E%26%22x%27.txt"),
        ("a.txt", "file", 1, "a.txt"),
        ("big.txt", "file", 5000, "big.txt"),
        ("z.txt", "file", 2, "z.txt"),
    ]
    assert html_first.headers["content-type"] == "text/html; charset=utf-8"


def test_no_listing_means_404_for_a_folder_without_index(site: Callable[..., Any]) -> None:
    with site(listing=False) as s:
        assert s.client.get("/list/").status_code == 404
        assert s.client.get("/list/", headers={"accept": "application/json"}).status_code == 404
        assert s.client.get("/sub/").content == FILES["sub/index.html"]
        assert s.client.get("/list").status_code == 301  # the folder exists


def test_no_index_lists_the_folder(site: Callable[..., Any]) -> None:
    with site(index=None) as s:
        response = s.client.get("/sub/", headers={"accept": "application/json"})
    assert [e["name"] for e in response.json()["entries"]] == ["index.html", "page.txt"]


# --- precompressed siblings ---------------------------------------------------------------------

GZ = FILES["a.css.gz"]
ENCODINGS = [
    # Accept-Encoding (None: no header) -> the representation served
    ("br, gzip", "br", "br-and-gzip"),
    ("gzip, br", "br", "gzip-and-br"),
    ("br", "br", "br"),
    ("gzip", "gzip", "gzip"),
    ("GZIP", "gzip", "gzip-upper"),
    ("deflate, gzip;q=0.5", "gzip", "gzip-weighted"),
    ("br;q=0, gzip", "gzip", "br-refused"),
    ("gzip;q=0, br;q=0", None, "both-refused"),
    ("gzip;q=0.0, br;q=0.000", None, "both-refused-decimal"),
    ("*", "br", "star"),
    ("*;q=0", None, "star-refused"),
    ("*, br;q=0", "gzip", "star-but-br"),
    ("identity", None, "identity"),
    ("", None, "empty"),
    (None, None, "absent"),
    ("gzip;Q=0, br;Q=0", None, "uppercase-q-refused"),
]


@pytest.mark.parametrize(
    ("accept", "encoding"), [pytest.param(a, e, id=i) for a, e, i in ENCODINGS]
)
def test_precompressed_negotiation(
    site: Callable[..., Any], accept: str | None, encoding: str | None
) -> None:
    headers = {} if accept is None else {"accept_encoding": accept}
    with site() as s:
        identity = s.raw("/a.css")
        response = s.raw("/a.css", **headers)
    assert response.status == 200
    assert response.headers["vary"] == "accept-encoding"
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["content-length"] == str(len(response.body))
    assert response.extra == b""
    if encoding is None:
        assert "content-encoding" not in response.headers
        assert response.body == CSS
        assert response.headers["etag"] == identity.headers["etag"]
    else:
        assert response.headers["content-encoding"] == encoding
        assert response.body == {"br": CSS_BR, "gzip": GZ}[encoding]
        assert ETAG_RE.fullmatch(response.headers["etag"])
        assert response.headers["etag"] != identity.headers["etag"]
    if encoding == "gzip":
        assert gzip.decompress(response.body) == CSS


def test_precompressed_etags_differ_and_validate(site: Callable[..., Any]) -> None:
    with site() as s:
        tags = {e: s.raw("/a.css", accept_encoding=e).headers["etag"] for e in ("br", "gzip", "x")}
        assert len(set(tags.values())) == 3
        br_304 = s.raw("/a.css", accept_encoding="br", if_none_match=tags["br"])
        identity_tag_br = s.raw("/a.css", accept_encoding="br", if_none_match=tags["x"])
    assert br_304.status == 304
    assert br_304.headers["etag"] == tags["br"]
    assert br_304.headers["vary"] == "accept-encoding"
    assert identity_tag_br.status == 200
    assert identity_tag_br.body == CSS_BR


@pytest.mark.parametrize(
    ("accept", "content", "encoding"),
    [("br", CSS_BR, "br"), ("gzip", GZ, "gzip"), (None, CSS, None)],
    ids=["br", "gzip", "identity"],
)
def test_range_on_a_precompressed_file(
    site: Callable[..., Any], accept: str | None, content: bytes, encoding: str | None
) -> None:
    """A range applies to the selected representation: the encoded bytes (RFC 9110 14.1)."""
    headers = {"range": "bytes=10-29,-7"}
    if accept is not None:
        headers["accept_encoding"] = accept
    with site() as s:
        single = s.raw(
            "/a.css", range="bytes=5-14", **{k: v for k, v in headers.items() if k != "range"}
        )
        multi = s.raw("/a.css", **headers)
    assert single.status == 206
    assert single.headers["content-range"] == f"bytes 5-14/{len(content)}"
    assert single.body == content[5:15]
    assert single.headers.get("content-encoding") == encoding
    assert single.headers["vary"] == "accept-encoding"
    parts = parse_multipart(multi.body, multi.headers["content-type"], len(content))
    assert [p[0] for p in parts] == [(10, 29), (len(content) - 7, len(content) - 1)]
    for (start, end), _, body in parts:
        assert body == content[start : end + 1]
    assert multi.headers.get("content-encoding") == encoding


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [("br", "br"), ("gzip", "gzip"), (None, None)],
    ids=["br", "gzip", "identity"],
)
def test_precompressed_large_files_use_sendfile(
    site: Callable[..., Any], www: Path, accept: str | None, encoding: str | None
) -> None:
    """Every representation larger than the cache limit is sent from its own file."""
    versions = {None: data(70, 400 * KIB), "br": data(71, 200 * KIB)}
    versions["gzip"] = gzip.compress(versions[None], compresslevel=1, mtime=0)
    for suffix, key in (("", None), (".br", "br"), (".gz", "gzip")):
        (www / f"big.js{suffix}").write_bytes(versions[key])
    content = versions[encoding]
    headers = {} if accept is None else {"accept_encoding": accept}
    with site(cache_file_size=100) as s:
        full = s.raw("/big.js", **headers)
        head = s.raw("/big.js", "HEAD", **headers)
        ranged = s.raw("/big.js", range="bytes=1000-150999", **headers)
        multi = s.raw("/big.js", range="bytes=0-9,-70000", **headers)
    assert full.body == content
    assert full.headers.get("content-encoding") == encoding
    assert full.headers["vary"] == "accept-encoding"
    assert head.headers["content-length"] == str(len(content))
    assert head.headers["etag"] == full.headers["etag"]
    assert ranged.headers["content-range"] == f"bytes 1000-150999/{len(content)}"
    assert ranged.body == content[1000:151000]
    assert ranged.headers.get("content-encoding") == encoding
    parts = parse_multipart(multi.body, multi.headers["content-type"], len(content))
    assert [p[2] for p in parts] == [content[:10], content[-70000:]]


def test_sibling_requested_directly(site: Callable[..., Any]) -> None:
    with site() as s:
        response = s.raw("/a.css.gz", accept_encoding="gzip")
    assert response.body == GZ
    assert response.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in response.headers


def test_precompressed_off(site: Callable[..., Any]) -> None:
    with site(precompressed=False) as s:
        response = s.raw("/a.css", accept_encoding="br, gzip")
    assert response.body == CSS
    assert "content-encoding" not in response.headers
    assert "vary" not in response.headers


# --- gzip on the fly ----------------------------------------------------------------------------


def test_gzip_on_the_fly_for_text(site: Callable[..., Any]) -> None:
    with site(gzip=True) as s:
        packed = s.raw("/text.txt", accept_encoding="gzip, deflate")
        plain = s.raw("/text.txt")
        ranged = s.raw("/text.txt", accept_encoding="gzip", range="bytes=0-9")
        refused = s.raw("/text.txt", accept_encoding="gzip;q=0")
    assert packed.status == 200
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "accept-encoding"
    assert packed.headers["content-length"] == str(len(packed.body))
    assert len(packed.body) < len(TEXT)
    assert gzip.decompress(packed.body) == TEXT
    assert packed.headers["etag"] != plain.headers["etag"]
    assert plain.body == TEXT
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "accept-encoding"
    # A range of the on-the-fly encoding would not be stable: the identity bytes are used.
    assert ranged.status == 206
    assert "content-encoding" not in ranged.headers
    assert ranged.body == TEXT[:10]
    assert refused.body == TEXT and "content-encoding" not in refused.headers


@pytest.mark.parametrize(
    ("name", "varies"),
    [("image.png", False), ("tiny.txt", True), ("small.bin", False)],
    ids=["png", "text-too-small-to-pay", "binary"],
)
def test_gzip_on_the_fly_skips(site: Callable[..., Any], name: str, varies: bool) -> None:
    with site(gzip=True) as s:
        response = s.raw("/" + name, accept_encoding="gzip")
    assert response.body == FILES[name]
    assert "content-encoding" not in response.headers
    assert ("vary" in response.headers) is varies


def test_gzip_on_the_fly_prefers_a_precompressed_sibling(site: Callable[..., Any]) -> None:
    with site(gzip=True) as s:
        response = s.raw("/a.css", accept_encoding="gzip")
    assert response.body == GZ


# --- Cache-Control ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "name", "expected"),
    [
        ({"max_age": 60}, "hello.txt", "public, max-age=60"),
        ({"max_age": 0}, "hello.txt", "public, max-age=0"),
        ({}, "hello.txt", None),
        ({"immutable_hashed": True}, "app.3f9a2c1b.js", "public, max-age=31536000, immutable"),
        ({"immutable_hashed": True}, "main-Bx3k9qZ2.css", "public, max-age=31536000, immutable"),
        ({"immutable_hashed": True}, "document.pdf", None),
        ({"immutable_hashed": True}, "report-2024.pdf", None),
        ({"immutable_hashed": True, "max_age": 60}, "document.pdf", "public, max-age=60"),
        ({"immutable_hashed": True, "max_age": 60}, "report-2024.pdf", "public, max-age=60"),
        ({"immutable_hashed": True, "max_age": 60}, "app.js", "public, max-age=60"),
        (
            {"immutable_hashed": True, "max_age": 60},
            "app.3f9a2c1b.js",
            "public, max-age=31536000, immutable",
        ),
        ({"max_age": 60}, "app.3f9a2c1b.js", "public, max-age=60"),
    ],
    ids=[
        "max-age",
        "max-age-0",
        "none",
        "hashed-hex",
        "hashed-vite",
        "plain-name",
        "year-is-no-hash",
        "plain-name-max-age",
        "year-max-age",
        "no-hash-max-age",
        "hashed-beats-max-age",
        "hash-without-option",
    ],
)
def test_cache_control(
    site: Callable[..., Any], www: Path, options: dict[str, Any], name: str, expected: str | None
) -> None:
    (www / name).write_bytes(b"content")
    with site(**options) as s:
        response = s.raw("/" + name)
        partial = s.raw("/" + name, range="bytes=0-1")
    assert response.status == 200
    assert response.headers.get("cache-control") == expected
    assert partial.headers.get("cache-control") == expected


def test_listing_is_not_cached(site: Callable[..., Any]) -> None:
    with site(max_age=60) as s:
        assert s.client.get("/list/").headers["cache-control"] == "no-cache"


# --- prefix mounting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "status", "body"),
    [
        ("/assets/hello.txt", 200, FILES["hello.txt"]),
        ("/assets/sub/", 200, FILES["sub/index.html"]),
        ("/assets/sub/page.txt", 200, FILES["sub/page.txt"]),
        ("/assets//hello.txt", 200, FILES["hello.txt"]),
        ("/hello.txt", 404, None),
        ("/assetshello.txt", 404, None),
        ("/assets-x/hello.txt", 404, None),
        ("/ASSETS/hello.txt", 404, None),
        ("/%61ssets/hello.txt", 404, None),
        ("/", 404, None),
    ],
    ids=[
        "file",
        "index",
        "nested",
        "double-slash",
        "outside-prefix",
        "prefix-without-slash",
        "longer-prefix",
        "case",
        "encoded-prefix",
        "root",
    ],
)
def test_prefix(site: Callable[..., Any], target: str, status: int, body: bytes | None) -> None:
    with site(prefix="/assets") as s:
        response = s.raw(target)
    assert response.status == status
    if body is not None:
        assert response.body == body


@pytest.mark.parametrize(
    ("prefix", "target", "location"),
    [
        ("/assets", "/assets", "/assets/"),
        ("/assets", "/assets/sub", "/assets/sub/"),
        ("/assets/", "/assets/sub?q=1", "/assets/sub/?q=1"),
        ("/a/b", "/a/b/list", "/a/b/list/"),
    ],
    ids=["mount-point", "folder", "prefix-with-slash", "deep-prefix"],
)
def test_prefix_redirects(
    site: Callable[..., Any], prefix: str, target: str, location: str
) -> None:
    with site(prefix=prefix) as s:
        response = s.raw(target)
    assert response.status == 301
    assert response.headers["location"] == location


def test_prefix_listing_paths(site: Callable[..., Any]) -> None:
    with site(prefix="/assets") as s:
        response = s.client.get("/assets/list/", headers={"accept": "application/json"})
    assert response.json()["path"] == "/assets/list/"


# --- the cache notices changes ------------------------------------------------------------------

CHANGE_PATHS = [
    pytest.param("small.bin", {}, id="cached"),
    pytest.param("large.bin", {}, id="sendfile"),
    pytest.param("small.bin", {"cache_file_size": 100}, id="uncached-inline"),
]


@pytest.mark.parametrize(("name", "options"), CHANGE_PATHS)
def test_changed_file_with_another_size(
    site: Callable[..., Any], name: str, options: dict[str, Any]
) -> None:
    new = data(50, len(FILES[name]) + 17)
    with site(**options) as s:
        first = s.raw("/" + name)
        (s.root / name).write_bytes(new)
        second = s.raw("/" + name)
        partial = s.raw("/" + name, range="bytes=-5")
    assert first.body == FILES[name]
    assert second.body == new
    assert second.headers["content-length"] == str(len(new))
    assert second.headers["etag"] != first.headers["etag"]
    assert partial.body == new[-5:]
    assert partial.headers["content-range"] == f"bytes {len(new) - 5}-{len(new) - 1}/{len(new)}"


@pytest.mark.parametrize(("name", "options"), CHANGE_PATHS)
def test_changed_file_with_the_same_size_and_a_new_mtime(
    site: Callable[..., Any], name: str, options: dict[str, Any]
) -> None:
    new = data(51, len(FILES[name]))
    with site(**options) as s:
        first = s.raw("/" + name)
        path = s.root / name
        with open(path, "r+b") as file:  # same inode, same size
            file.write(new)
        os.utime(path, (MTIME + 60, MTIME + 60))
        second = s.raw("/" + name)
        not_modified = s.raw("/" + name, if_none_match=first.headers["etag"])
    assert second.body == new
    assert second.headers["etag"] != first.headers["etag"]
    assert second.headers["last-modified"] == formatdate(MTIME + 60, usegmt=True)
    assert not_modified.status == 200
    assert not_modified.body == new


@pytest.mark.parametrize(("name", "options"), CHANGE_PATHS)
def test_touched_file_gets_new_validators(
    site: Callable[..., Any], name: str, options: dict[str, Any]
) -> None:
    with site(**options) as s:
        first = s.raw("/" + name)
        os.utime(s.root / name, (MTIME + 1, MTIME + 1))
        second = s.raw("/" + name, if_modified_since=DATE)
    assert second.status == 200
    assert second.headers["etag"] != first.headers["etag"]
    assert second.body == FILES[name]


@pytest.mark.parametrize(("name", "options"), CHANGE_PATHS)
def test_deleted_file_is_404_next_time(
    site: Callable[..., Any], name: str, options: dict[str, Any]
) -> None:
    with site(**options) as s:
        assert s.raw("/" + name).status == 200
        (s.root / name).unlink()
        gone = s.raw("/" + name)
        gone_head = s.raw("/" + name, "HEAD")
        gone_range = s.raw("/" + name, range="bytes=0-1")
    assert (gone.status, gone_head.status, gone_range.status) == (404, 404, 404)
    assert FILES[name] not in gone.raw


def test_deleted_index_falls_back_to_the_listing(site: Callable[..., Any]) -> None:
    with site() as s:
        assert s.client.get("/sub/").content == FILES["sub/index.html"]
        (s.root / "sub" / "index.html").unlink()
        response = s.client.get("/sub/", headers={"accept": "application/json"})
    assert [e["name"] for e in response.json()["entries"]] == ["page.txt"]


def test_file_replaced_by_a_folder(site: Callable[..., Any]) -> None:
    with site() as s:
        assert s.raw("/hello.txt").status == 200
        (s.root / "hello.txt").unlink()
        (s.root / "hello.txt").mkdir()
        response = s.raw("/hello.txt")
    assert response.status == 301
    assert response.headers["location"] == "/hello.txt/"


def test_deleted_precompressed_sibling_is_not_served(
    site: Callable[..., Any],
) -> None:
    """A sibling deleted after the file was cached is no longer served."""
    with site() as s:
        assert s.raw("/a.css", accept_encoding="br").body == CSS_BR
        (s.root / "a.css.br").unlink()
        response = s.raw("/a.css", accept_encoding="br, gzip")
    assert response.headers["content-encoding"] == "gzip"
    assert response.body == GZ


def test_many_files_beyond_the_cache_size(site: Callable[..., Any], www: Path) -> None:
    """Eviction keeps every answer right when the cache is smaller than the files."""
    contents = {f"f{i}.bin": data(100 + i, 3000 + i) for i in range(20)}
    for name, content in contents.items():
        (www / name).write_bytes(content)
    with site(cache_size=10_000) as s:
        for _ in range(2):
            for name, content in contents.items():
                assert s.raw("/" + name).body == content


# --- a file that changes while it is sent ------------------------------------------------------

BIG = 20 * MIB


def _read_head(sock: socket.socket) -> tuple[dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        more = sock.recv(65536)
        assert more, buf
        buf += more
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 200 "), lines[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, rest


def _read_until_close(sock: socket.socket, limit: int) -> bytes:
    """Everything until the server closes (more than `limit` bytes is a failure)."""
    chunks = []
    total = 0
    while True:
        try:
            more = sock.recv(MIB)
        except ConnectionResetError:
            break
        if not more:
            break
        chunks.append(more)
        total += len(more)
        assert total <= limit, f"more than {limit} bytes"
    return b"".join(chunks)


def _replace(path: Path) -> bytes:
    new = data(61, BIG + 4321)
    temporary = path.with_name("big.tmp")
    temporary.write_bytes(new)
    os.replace(temporary, path)
    return new


def _truncate(path: Path) -> bytes:
    with open(path, "r+b") as file:
        file.truncate(MIB)
    return data(60, BIG)[:MIB]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("change", [_replace, _truncate], ids=["replaced", "truncated"])
def test_file_changed_during_a_large_download(
    site: Callable[..., Any], www: Path, change: Callable[[Path], bytes]
) -> None:
    """The client gets the whole old file, or an incomplete body (closed before
    Content-Length): never more bytes, never a complete length with other content.

    A small receive buffer keeps the server in the middle of the file when it changes."""
    old = data(60, BIG)
    path = www / "big.bin"
    path.write_bytes(old)
    with site() as s:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KIB)
            sock.settimeout(DEADLINE)
            sock.connect(("127.0.0.1", s.port))
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            headers, body = _read_head(sock)
            length = int(headers["content-length"])
            assert length == BIG
            while len(body) < MIB:
                more = sock.recv(MIB - len(body))
                assert more
                body += more
            assert body == old[: len(body)]
            now = change(path)
            body += _read_until_close(sock, length - len(body))
        if len(body) == length:
            assert body == old, "a complete length with other content"
        else:
            assert len(body) < length
            if change is _replace:
                # The old file stays open and unchanged: what came is the old file's start.
                # (After a truncation the bytes already queued from the page cache may be
                # zeros; the short body tells the client the response is incomplete.)
                assert body == old[: len(body)], "bytes of another file in the body"
        # The server goes on serving, and serves the file as it is now.
        after = s.raw("/big.bin")
        assert after.status == 200
        assert after.headers["content-length"] == str(len(now))
        assert after.body == now
        assert s.raw("/hello.txt").body == FILES["hello.txt"]


def test_file_vanishing_between_requests(site: Callable[..., Any], www: Path) -> None:
    content = data(62, 2 * MIB)
    (www / "gone.bin").write_bytes(content)
    with site() as s:
        assert s.raw("/gone.bin", range="bytes=0-99").body == content[:100]
        (www / "gone.bin").unlink()
        assert s.raw("/gone.bin").status == 404
        assert s.raw("/gone.bin", range="bytes=0-99,200-299").status == 404
        (www / "gone.bin").write_bytes(content[:10])
        assert s.raw("/gone.bin").body == content[:10]


# --- pipelining ---------------------------------------------------------------------------------


def _pipeline(port: int, requests: list[bytes]) -> list[tuple[int, dict[str, str], bytes]]:
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(b"".join(requests))
        reader = Reader(sock, DEADLINE)
        responses = [reader.response(head_only=r.startswith(b"HEAD ")) for r in requests]
        rest = reader.buf + recv_all(sock, DEADLINE)
    assert rest == b"", rest[:200]
    return responses


def _get(target: str, *headers: str, close: bool = False) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: t", *headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("options", [{}, {"cache_file_size": 100}], ids=["cached", "uncached"])
def test_pipelined_gets(site: Callable[..., Any], options: dict[str, Any]) -> None:
    names = ["small.bin", "large.bin", "hello.txt", "medium.bin", "large.bin"]
    requests = [_get("/" + n, close=i == len(names) - 1) for i, n in enumerate(names)]
    with site(**options) as s:
        responses = _pipeline(s.port, requests)
    for name, (status, headers, body) in zip(names, responses, strict=True):
        assert status == 200
        assert headers["content-length"] == str(len(FILES[name]))
        assert body == FILES[name], name


def test_pipelined_mixed_responses(site: Callable[..., Any]) -> None:
    large = FILES["large.bin"]
    with site(cache_file_size=100) as s:
        etag = s.client.get("/large.bin").headers["etag"]
        requests = [
            _get("/large.bin", "Range: bytes=0-99999,200000-"),
            _get("/large.bin", f"If-None-Match: {etag}"),
            b"HEAD /large.bin HTTP/1.1\r\nHost: t\r\n\r\n",
            _get("/missing"),
            _get("/sub"),
            _get("/large.bin", "Range: bytes=-70000"),
            _get("/list/", "Accept: application/json"),
            _get("/small.bin", close=True),
        ]
        responses = _pipeline(s.port, requests)
    statuses = [r[0] for r in responses]
    assert statuses == [206, 304, 200, 404, 301, 206, 200, 200]
    parts = parse_multipart(responses[0][2], responses[0][1]["content-type"], len(large))
    assert [(p[0], p[2]) for p in parts] == [
        ((0, 99999), large[:100000]),
        ((200000, len(large) - 1), large[200000:]),
    ]
    assert responses[2][1]["content-length"] == str(len(large))
    assert responses[5][2] == large[-70000:]
    assert json.loads(responses[6][2])["path"] == "/list/"
    assert responses[7][2] == FILES["small.bin"]


# --- the porch static command ------------------------------------------------------------------

LISTENING = r"porch listening on http://127\.0\.0\.1:(\d+) "


@pytest.mark.timeout(45)
@pytest.mark.parametrize(
    ("module", "args"),
    [("porch", ("static",)), ("porch.static", ())],
    ids=["porch-static", "python-m-porch-static"],
)
def test_cli_serves_a_folder(www: Path, module: str, args: tuple[str, ...]) -> None:
    with PorchProcess(*args, str(www), "--port", "0", module=module) as porch:
        port = int(porch.wait_for(LISTENING).group(1))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=DEADLINE) as client:
            response = client.get("/large.bin")
            listing = client.get("/list/", headers={"accept": "application/json"})
            ranged = client.get("/small.bin", headers={"range": "bytes=-10"})
        porch.proc.send_signal(signal.SIGTERM)
        code = porch.finish()
    assert response.status_code == 200
    assert response.content == FILES["large.bin"]
    assert listing.json()["path"] == "/list/"
    assert ranged.content == FILES["small.bin"][-10:]
    assert code == 0, porch.lines
    assert not any("Traceback" in line for line in porch.lines), porch.lines


@pytest.mark.timeout(45)
@pytest.mark.parametrize(
    "command",
    [["-m", "porch", "static"], ["-m", "porch.static"]],
    ids=["porch-static", "python-m-porch-static"],
)
def test_cli_missing_folder_is_one_error_line(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "no-such-folder"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORCH_")}
    result = subprocess.run(
        [sys.executable, *command, str(missing), "--port", "0"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert str(missing) in lines[0]
    assert "listening" not in result.stderr
