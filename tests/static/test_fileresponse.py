"""`FileResponse` returned by an ordinary native app: disposition, validators, ranges, status."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from porch import Request
from porch.static import FileResponse
from tests.static.conftest import Raw, parse_multipart, raw_request

SMALL = random.Random(11).randbytes(5000)
LARGE = random.Random(12).randbytes(300 * 1024)  # sent with sendfile
FILES = {"report.pdf": SMALL, "large.bin": LARGE, "notes.txt": b"some notes\n"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name, content in FILES.items():
        (tmp_path / name).write_bytes(content)
    return tmp_path


@pytest.fixture
def file_app(serve: Callable[..., Any], folder: Path) -> Callable[..., Any]:
    """``with file_app(name, **kwargs) as get:`` serves ``FileResponse(folder/name, **kwargs)``
    for every request; ``get(method, **headers)`` sends one raw request."""

    @contextmanager
    def run(name: str, **kwargs: Any) -> Iterator[Callable[..., Raw]]:
        async def app(request: Request) -> FileResponse:
            return FileResponse(folder / name, **kwargs)

        with serve(app) as srv:

            def get(method: str = "GET", **headers: str) -> Raw:
                fields = {k.replace("_", "-"): v for k, v in headers.items()}
                return raw_request(srv.port, "/file", method, fields)

            yield get

    return run


_PARAM = re.compile(r';\s*([^=;\s]+)=("(?:[^"\\]|\\.)*"|[^;"]*)\s*')


def _disposition_params(value: str) -> tuple[str, dict[str, str]]:
    """The disposition type and its parameters (quoted values kept with their quotes)."""
    kind, _, rest = value.partition(";")
    found = {}
    pos = 0
    rest = ";" + rest
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        assert match, f"unparsable Content-Disposition: {value!r}"
        found[match.group(1).lower()] = match.group(2)
        pos = match.end()
    return kind.strip(), found


@pytest.mark.parametrize(
    ("filename", "inline", "kind"),
    [
        ("rapport é.pdf", False, "attachment"),
        ("report.pdf", False, "attachment"),
        ("报告 2024.pdf", True, "inline"),
        ('say "hi"\\.pdf', False, "attachment"),
        ("new\r\nline.pdf", False, "attachment"),
        ("100% sure;.pdf", False, "attachment"),
    ],
    ids=["accented", "ascii", "cjk-inline", "quote-backslash", "crlf", "percent-semicolon"],
)
def test_content_disposition(
    file_app: Callable[..., Any], filename: str, inline: bool, kind: str
) -> None:
    with file_app("report.pdf", filename=filename, inline=inline) as get:
        response = get()
    assert response.status == 200
    assert response.body == SMALL
    assert response.headers["content-type"] == "application/pdf"
    value = response.headers["content-disposition"]
    assert value.isascii()
    got_kind, params = _disposition_params(value)
    assert got_kind == kind
    fallback = params["filename"]
    assert re.fullmatch(r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"', fallback), fallback
    if filename.isascii() and filename.isprintable() and not set(filename) & set('"\\'):
        assert fallback == f'"{filename}"'
    extended = params["filename*"]
    assert extended.startswith("UTF-8''")
    assert re.fullmatch(r"[A-Za-z0-9!#$&+.^_`|~%-]*", extended[7:]), extended  # RFC 8187
    assert unquote(extended[7:], encoding="utf-8", errors="strict") == filename


def test_accented_filename_exact_header(file_app: Callable[..., Any]) -> None:
    with file_app("report.pdf", filename="rapport é.pdf") as get:
        value = get().headers["content-disposition"]
    kind, params = _disposition_params(value)
    assert kind == "attachment"
    assert params["filename*"] == "UTF-8''rapport%20%C3%A9.pdf"
    assert params["filename"].startswith('"rapport') and params["filename"].endswith('.pdf"')


@pytest.mark.parametrize(
    ("name", "kwargs", "media"),
    [
        ("report.pdf", {}, "application/pdf"),
        ("notes.txt", {}, "text/plain; charset=utf-8"),
        ("large.bin", {"filename": "archive.zip"}, "application/zip"),
        ("report.pdf", {"media_type": "application/x-custom"}, "application/x-custom"),
        (
            "notes.txt",
            {"media_type": "text/markdown; charset=utf-8", "filename": "a.pdf"},
            "text/markdown; charset=utf-8",
        ),
    ],
    ids=["from-path", "text", "from-filename", "override", "override-beats-filename"],
)
def test_media_type(
    file_app: Callable[..., Any], name: str, kwargs: dict[str, Any], media: str
) -> None:
    with file_app(name, **kwargs) as get:
        response = get()
        partial = get(range="bytes=0-1")
    assert response.headers["content-type"] == media
    assert partial.headers["content-type"] == media
    assert "content-disposition" not in response.headers or "filename" in kwargs


@pytest.mark.parametrize("name", ["report.pdf", "large.bin"], ids=["small", "sendfile"])
def test_headers_and_body(file_app: Callable[..., Any], name: str) -> None:
    with file_app(name, headers={"x-extra": "1", "cache-control": "no-store"}) as get:
        response = get()
        head = get("HEAD")
    content = FILES[name]
    assert response.status == 200
    assert response.body == content
    assert response.headers["content-length"] == str(len(content))
    assert re.fullmatch(r'"[^"]+"', response.headers["etag"])
    assert "last-modified" in response.headers
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["x-extra"] == "1"
    assert response.headers["cache-control"] == "no-store"
    assert head.status == 200
    assert head.body == b"" and head.extra == b""
    assert {k: v for k, v in head.headers.items() if k != "date"} == {
        k: v for k, v in response.headers.items() if k != "date"
    }


@pytest.mark.parametrize("name", ["report.pdf", "large.bin"], ids=["small", "sendfile"])
@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("if-none-match", "{etag}", 304),
        ("if-none-match", "*", 304),
        ("if-none-match", '"other"', 200),
        ("if-modified-since", "{date}", 304),
        ("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT", 200),
        ("if-match", '"other"', 412),
        ("if-match", "{etag}", 200),
        ("if-unmodified-since", "Thu, 01 Jan 1970 00:00:00 GMT", 412),
    ],
    ids=["inm", "inm-star", "inm-other", "ims", "ims-old", "im-other", "im", "ius-old"],
)
def test_conditional(
    file_app: Callable[..., Any], name: str, field: str, value: str, status: int
) -> None:
    with file_app(name, headers={"cache-control": "max-age=5"}) as get:
        first = get()
        value = value.replace("{etag}", first.headers["etag"])
        value = value.replace("{date}", first.headers["last-modified"])
        response = get(**{field: value})
    assert response.status == status
    assert response.extra == b""
    if status == 200:
        assert response.body == FILES[name]
    else:
        assert response.body == b""
    if status == 304:
        assert response.headers["etag"] == first.headers["etag"]
        assert response.headers["cache-control"] == "max-age=5"
        assert "content-length" not in response.headers


@pytest.mark.parametrize("name", ["report.pdf", "large.bin"], ids=["small", "sendfile"])
@pytest.mark.parametrize(
    ("spec", "expected"),
    [("0-99", (0, 99)), ("-100", "last100"), ("1000-", "from1000"), ("0-9,5-20,21-30", (0, 30))],
    ids=["first", "suffix", "open", "merged"],
)
def test_single_range(file_app: Callable[..., Any], name: str, spec: str, expected: Any) -> None:
    content = FILES[name]
    size = len(content)
    start, end = {"last100": (size - 100, size - 1), "from1000": (1000, size - 1)}.get(
        expected, expected
    )
    with file_app(name, filename="x.pdf") as get:
        response = get(range=f"bytes={spec}")
    assert response.status == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.body == content[start : end + 1]


@pytest.mark.parametrize("name", ["report.pdf", "large.bin"], ids=["small", "sendfile"])
def test_multiple_ranges_and_416(file_app: Callable[..., Any], name: str) -> None:
    content = FILES[name]
    size = len(content)
    with file_app(name) as get:
        etag = get().headers["etag"]
        multi = get(range="bytes=0-9,-20,100-199")
        unsatisfiable = get(range=f"bytes={size}-")
        stale = get(range="bytes=0-9", if_range='"stale"')
        fresh = get(range="bytes=0-9", if_range=etag)
    parts = parse_multipart(multi.body, multi.headers["content-type"], size)
    assert [p[0] for p in parts] == [(0, 9), (100, 199), (size - 20, size - 1)]
    for (start, end), _, body in parts:
        assert body == content[start : end + 1]
    assert unsatisfiable.status == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{size}"
    assert stale.status == 200 and stale.body == content
    assert fresh.status == 206 and fresh.body == content[:10]


def test_missing_file_is_404(serve: Callable[..., Any], folder: Path) -> None:
    async def app(request: Request) -> FileResponse:
        return FileResponse(folder / "nope.pdf", filename="nope.pdf")

    with serve(app) as srv:
        response = raw_request(srv.port, "/x")
    assert response.status == 404


def test_folder_is_404(serve: Callable[..., Any], folder: Path) -> None:
    async def app(request: Request) -> FileResponse:
        return FileResponse(folder)

    with serve(app) as srv:
        assert raw_request(srv.port, "/x").status == 404


@pytest.mark.parametrize("name", ["report.pdf", "large.bin"], ids=["small", "sendfile"])
def test_file_deleted_after_the_response_was_made(
    serve: Callable[..., Any], folder: Path, name: str
) -> None:
    """The file is opened when the response is sent: gone by then means 404."""

    async def app(request: Request) -> FileResponse:
        response = FileResponse(folder / name)
        os.unlink(folder / name)
        return response

    with serve(app) as srv:
        response = raw_request(srv.port, "/x")
    assert response.status == 404
    assert FILES[name][:100] not in response.raw


def test_file_changed_after_the_response_was_made(serve: Callable[..., Any], folder: Path) -> None:
    """Never the validators of one version with the bytes of another."""
    path = folder / "report.pdf"

    async def app(request: Request) -> FileResponse:
        response = FileResponse(path)
        path.write_bytes(b"a different, shorter file")
        return response

    with serve(app) as srv:
        response = raw_request(srv.port, "/x")
    assert response.status != 200 or response.body == SMALL
    assert response.status in (200, 503), response.raw[:300]


@pytest.mark.parametrize("name", ["report.pdf", "large.bin"], ids=["small", "sendfile"])
@pytest.mark.parametrize("status", [203, 299])
def test_status_override_for_a_full_response(
    file_app: Callable[..., Any], name: str, status: int
) -> None:
    with file_app(name, status=status) as get:
        response = get()
        head = get("HEAD")
    assert response.status == status
    assert response.body == FILES[name]
    assert head.status == status
    assert head.headers["content-length"] == str(len(FILES[name]))


@pytest.mark.parametrize(
    "headers",
    [
        {"range": "bytes=0-9"},
        {"range": "bytes=0-9,20-29"},
        {"if-none-match": "*"},
        {"if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT"},
        {"if-match": '"other"'},
    ],
    ids=["range", "multi-range", "if-none-match", "if-modified-since", "if-match"],
)
def test_error_status_ignores_ranges_and_preconditions(
    file_app: Callable[..., Any], headers: dict[str, str]
) -> None:
    """``FileResponse("404.html", status=404)`` is an error page, not the selected
    representation: RFC 9110 13.2.1 (preconditions are ignored when the response would be
    other than 2xx/412) and 14.2 (a Range is only honoured for what would be a 200)."""
    with file_app("report.pdf", status=404) as get:
        plain = get()
        response = get(**headers)
    assert plain.status == 404
    assert plain.body == SMALL
    assert response.status == 404, response.raw[:300]
    assert response.body == SMALL


def _head_lines(raw: bytes) -> list[tuple[str, str]]:
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
    return [(n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in head)]


@pytest.mark.parametrize(
    "headers",
    [{"Content-Length": "5"}, {"transfer-encoding": "chunked"}],
    ids=["content-length", "transfer-encoding"],
)
def test_app_framing_headers_do_not_reach_the_wire(
    file_app: Callable[..., Any], headers: dict[str, str]
) -> None:
    """The server frames every response itself (as it does for a plain `Response`): one
    Content-Length with the real length and no Transfer-Encoding (RFC 9112 6.1, 6.3)."""
    name = "notes.txt"
    with file_app(name, headers=headers) as get:
        response = get()
        partial = get(range="bytes=0-3")
    for got, length in ((response, len(FILES[name])), (partial, 4)):
        lines = _head_lines(got.raw)
        assert [v for n, v in lines if n == "content-length"] == [str(length)], lines
        assert not [v for n, v in lines if n == "transfer-encoding"], lines
    assert response.body == FILES[name]
