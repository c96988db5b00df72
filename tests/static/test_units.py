"""Tables for the pure parts of static serving: ranges, preconditions, paths, content types."""

from __future__ import annotations

import calendar
import os
from pathlib import Path

import pytest

from porch.static.mime import content_type, is_compressible
from porch.static.paths import clean_segments, is_inside, segments_to_url
from porch.static.ranges import MAX_RANGES, Unsatisfiable, parse_ranges
from porch.static.validators import (
    Conditions,
    etag_for,
    evaluate,
    http_date,
    if_range_allows,
    parse_date,
)

# --- parse_ranges (RFC 9110 14.1, 14.2) -----------------------------------------------------

UNSAT = "416"  # parse_ranges raises Unsatisfiable

RANGES = [
    # (header, size, expected: list of (start, end), None for "ignore", or UNSAT)
    ("bytes=0-0", 100, [(0, 0)], "first-byte"),
    ("bytes=0-9", 100, [(0, 9)], "first-ten"),
    ("bytes=10-19", 100, [(10, 19)], "middle"),
    ("bytes=-10", 100, [(90, 99)], "suffix"),
    ("bytes=90-", 100, [(90, 99)], "open-ended"),
    ("bytes=0-", 100, [(0, 99)], "open-from-zero"),
    ("bytes=50-1000", 100, [(50, 99)], "end-clamped"),
    ("bytes=99-99", 100, [(99, 99)], "last-byte"),
    ("bytes=-1000", 100, [(0, 99)], "suffix-larger-than-size"),
    ("bytes=-100", 100, [(0, 99)], "suffix-equal-to-size"),
    ("bytes=0-99999999999999999999999", 100, [(0, 99)], "huge-end"),
    ("BYTES=0-9", 100, [(0, 9)], "unit-case-insensitive"),
    ("bytes=0-9 , 20-29", 100, [(0, 9), (20, 29)], "spaces-around-comma"),
    ("bytes=0-9,,20-29", 100, [(0, 9), (20, 29)], "empty-list-element"),
    ("bytes=20-29,0-9", 100, [(0, 9), (20, 29)], "sorted"),
    ("bytes=0-9,5-20,21-30", 100, [(0, 30)], "overlap-and-adjacent-merged"),
    ("bytes=0-9,10-19", 100, [(0, 19)], "adjacent-merged"),
    ("bytes=0-50,10-20", 100, [(0, 50)], "contained-merged"),
    ("bytes=0-9,-10", 100, [(0, 9), (90, 99)], "with-suffix"),
    ("bytes=-10,95-", 100, [(90, 99)], "suffix-and-open-merged"),
    ("bytes=0-9,200-300", 100, [(0, 9)], "unsatisfiable-part-dropped"),
    ("bytes=" + ",".join(f"{i}-{i}" for i in range(65)), 200, None, "65-ranges-ignored"),
    ("bytes=100-", 100, UNSAT, "start-at-size"),
    ("bytes=100-200", 100, UNSAT, "start-beyond"),
    ("bytes=-0", 100, UNSAT, "zero-suffix"),
    ("bytes=100-,200-", 100, UNSAT, "all-beyond"),
    ("bytes=0-0", 0, UNSAT, "empty-file"),
    ("bytes=-5", 0, UNSAT, "empty-file-suffix"),
    ("bytes=0-", 0, UNSAT, "empty-file-open"),
    ("bytes=", 100, UNSAT, "no-ranges"),
    ("bytes=5-2", 100, None, "reversed"),
    ("bytes=0-9,5-2", 100, None, "one-reversed"),
    ("bytes=-", 100, None, "dash-only"),
    ("bytes=a-b", 100, None, "letters"),
    ("bytes=0x0-0x9", 100, None, "hex"),
    ("bytes=+1-5", 100, None, "plus-sign"),
    ("bytes=-5-", 100, None, "double-dash"),
    ("bytes=1", 100, None, "no-dash"),
    ("bytes=\u0661-\u0662", 100, None, "arabic-indic-digits"),
    ("bytes=\u00b9-\u00b2", 100, None, "superscript-digits"),
    ("items=0-9", 100, None, "other-unit"),
    ("bytes 0-9", 100, None, "no-equals"),
    ("0-9", 100, None, "no-unit"),
    ("", 100, None, "empty-header"),
]


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [pytest.param(h, s, e, id=i) for h, s, e, i in RANGES],
)
def test_parse_ranges(header: str, size: int, expected: object) -> None:
    if expected == UNSAT:
        with pytest.raises(Unsatisfiable):
            parse_ranges(header, size)
    elif expected is None:
        assert parse_ranges(header, size) is None
    else:
        assert parse_ranges(header, size) == expected


def test_parse_ranges_limit_is_64() -> None:
    assert MAX_RANGES == 64
    many = "bytes=" + ",".join(f"{i * 2}-{i * 2}" for i in range(64))
    assert parse_ranges(many, 200) == [(i * 2, i * 2) for i in range(64)]


# --- evaluate (RFC 9110 13.1, 13.2.2) --------------------------------------------------------

ETAG = '"5f3a-10"'
MTIME = float(calendar.timegm((2026, 11, 25, 14, 0, 0))) + 0.75  # sub-second part ignored
SAME = "Wed, 25 Nov 2026 14:00:00 GMT"
EARLIER = "Wed, 25 Nov 2026 13:59:59 GMT"
LATER = "Wed, 25 Nov 2026 14:00:01 GMT"
SAME_RFC850 = "Wednesday, 25-Nov-26 14:00:00 GMT"
SAME_ASCTIME = "Wed Nov 25 14:00:00 2026"
EARLIER_ASCTIME = "Wed Nov 25 13:59:59 2026"

EVALUATE = [
    # (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since) -> status or None
    ((None, None, None, None), None, "no-conditions"),
    ((ETAG, None, None, None), None, "if-match-same"),
    (('"other"', None, None, None), 412, "if-match-other"),
    (('"other", ' + ETAG, None, None, None), None, "if-match-list"),
    (("*", None, None, None), None, "if-match-star"),
    (("W/" + ETAG, None, None, None), 412, "if-match-weak-is-strong-comparison"),
    (("", None, None, None), 412, "if-match-empty"),
    ((None, ETAG, None, None), 304, "if-none-match-same"),
    ((None, '"a", ' + ETAG + ', "b"', None, None), 304, "if-none-match-list"),
    ((None, '"a","b"', None, None), None, "if-none-match-others"),
    ((None, "*", None, None), 304, "if-none-match-star"),
    ((None, "W/" + ETAG, None, None), 304, "if-none-match-weak-comparison"),
    ((None, '"5f3a"', None, None), None, "if-none-match-prefix-is-not-equal"),
    ((None, None, SAME, None), 304, "ims-equal"),
    ((None, None, LATER, None), 304, "ims-later"),
    ((None, None, EARLIER, None), None, "ims-earlier"),
    ((None, None, "yesterday", None), None, "ims-invalid-ignored"),
    ((None, None, SAME_RFC850, None), 304, "ims-rfc850-date"),
    ((None, None, SAME_ASCTIME, None), 304, "ims-asctime-date"),
    ((None, '"other"', SAME, None), None, "inm-overrides-ims"),
    ((None, None, None, EARLIER), 412, "ius-earlier"),
    ((None, None, None, SAME), None, "ius-equal"),
    ((None, None, None, LATER), None, "ius-later"),
    ((None, None, None, "not a date"), None, "ius-invalid-ignored"),
    ((None, None, None, EARLIER_ASCTIME), 412, "ius-asctime-date"),
    ((ETAG, None, None, EARLIER), None, "if-match-overrides-ius"),
    (('"other"', ETAG, None, None), 412, "412-before-304"),
    ((ETAG, ETAG, None, None), 304, "match-then-none-match"),
    ((None, None, SAME, EARLIER), 412, "ius-before-ims"),
]


@pytest.mark.parametrize(
    ("fields", "expected"), [pytest.param(f, e, id=i) for f, e, i in EVALUATE]
)
def test_evaluate(fields: tuple[str | None, ...], expected: int | None) -> None:
    assert evaluate(Conditions(*fields), ETAG, MTIME) == expected


IF_RANGE = [
    (None, True, "absent"),
    (ETAG, True, "same-etag"),
    (" " + ETAG + " ", True, "same-etag-spaces"),
    ('"other"', False, "other-etag"),
    ("W/" + ETAG, False, "weak-etag-never"),
    (SAME, True, "same-date"),
    (LATER, False, "later-date-is-not-exact"),
    (EARLIER, False, "earlier-date"),
    ("garbage", False, "invalid"),
]


@pytest.mark.parametrize(
    ("if_range", "expected"), [pytest.param(v, e, id=i) for v, e, i in IF_RANGE]
)
def test_if_range_allows(if_range: str | None, expected: bool) -> None:
    assert if_range_allows(if_range, ETAG, MTIME) is expected


def test_http_date_round_trip() -> None:
    assert http_date(MTIME) == SAME
    assert parse_date(SAME) == int(MTIME)


@pytest.mark.parametrize(
    "value",
    [SAME, SAME_RFC850, SAME_ASCTIME],
    ids=["imf-fixdate", "rfc850", "asctime"],
)
def test_parse_date_accepts_the_three_http_date_formats(value: str) -> None:
    """RFC 9110 5.6.7: a recipient MUST accept all three HTTP-date formats."""
    assert parse_date(value) == int(MTIME)


def test_etag_is_strong_and_changes_with_size_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    first = etag_for(os.stat(path))
    assert first.startswith('"') and first.endswith('"') and not first.startswith("W/")
    assert etag_for(os.stat(path), "-br") == first[:-1] + '-br"'
    path.write_bytes(b"123456")
    second = etag_for(os.stat(path))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    third = etag_for(os.stat(path))
    assert len({first, second, third}) == 3


# --- clean_segments --------------------------------------------------------------------------

SEGMENTS = [
    (b"/", [], "root"),
    (b"", [], "empty"),
    (b"/a.txt", ["a.txt"], "file"),
    (b"/a/b/c.txt", ["a", "b", "c.txt"], "nested"),
    (b"//a///b", ["a", "b"], "empty-segments-collapse"),
    (b"/./a/./b/.", ["a", "b"], "dot-segments-dropped"),
    (b"/%2e/a", ["a"], "encoded-dot-dropped"),
    (b"/caf%C3%A9.txt", ["café.txt"], "utf8-decoded"),
    (b"/a%20b", ["a b"], "encoded-space-inside"),
    (b"/%252e%252e", ["%2e%2e"], "decoded-once"),
    (b"/100%25", ["100%"], "percent-sign"),
    (b"/%ef%bc%8e%ef%bc%8e", ["\uff0e\uff0e"], "fullwidth-dots-are-a-name"),
    (b"/..", None, "dotdot"),
    (b"/a/../b", None, "dotdot-inside"),
    (b"/%2e%2e", None, "encoded-dotdot"),
    (b"/.%2E", None, "half-encoded-dotdot"),
    (b"/a%2fb", None, "encoded-slash"),
    (b"/a%2Fb", None, "encoded-slash-upper"),
    (b"/a%5cb", None, "encoded-backslash"),
    (b"/a\\b", None, "backslash"),
    (b"/a%00b", None, "nul"),
    (b"/a%0ab", None, "newline"),
    (b"/a%1fb", None, "control"),
    (b"/%c0%ae%c0%ae", None, "overlong-utf8"),
    (b"/%ff", None, "invalid-utf8"),
    (b"/.env", None, "dotfile"),
    (b"/a/.git/config", None, "dotfolder"),
    (b"/...", None, "three-dots"),
    (b"/CON", None, "con"),
    (b"/con.txt", None, "con-extension"),
    (b"/Aux.tar.gz", None, "aux-double-extension"),
    (b"/nul", None, "nul-device"),
    (b"/PRN", None, "prn"),
    (b"/COM1", None, "com1"),
    (b"/lpt9.log", None, "lpt9"),
    (b"/com%C2%B9", None, "com-superscript-one"),
    (b"/C:", None, "drive"),
    (b"/c:%5cwindows", None, "drive-backslash"),
    (b"/a.txt.", None, "trailing-dot"),
    (b"/a.txt%20", None, "trailing-space"),
    (b"/console.txt", ["console.txt"], "con-prefix-is-fine"),
    (b"/com10", ["com10"], "com10-is-fine"),
    (b"/a:b", None, "drive-like-prefix"),
]


@pytest.mark.parametrize(("raw", "expected"), [pytest.param(r, e, id=i) for r, e, i in SEGMENTS])
def test_clean_segments(raw: bytes, expected: list[str] | None) -> None:
    assert clean_segments(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"/.env", [".env"]),
        (b"/.well-known/x", [".well-known", "x"]),
        (b"/..", None),
        (b"/.%2e", None),
        (b"/...", None),
    ],
    ids=["dotfile", "dotfolder", "dotdot", "encoded-dotdot", "three-dots-trailing-dot"],
)
def test_clean_segments_with_dotfiles(raw: bytes, expected: list[str] | None) -> None:
    assert clean_segments(raw, dotfiles=True) == expected


@pytest.mark.parametrize(
    ("segments", "slash", "expected"),
    [
        ([], True, "/"),
        (["a", "b"], False, "/a/b"),
        (["a", "b"], True, "/a/b/"),
        (["evil.example"], True, "/evil.example/"),
        (["a b", "c?d#e", "100%"], False, "/a%20b/c%3Fd%23e/100%25"),
        (["café"], False, "/caf%C3%A9"),
    ],
    ids=["root", "plain", "slash", "host-like", "reserved", "unicode"],
)
def test_segments_to_url(segments: list[str], slash: bool, expected: str) -> None:
    assert segments_to_url(segments, slash) == expected


def test_is_inside(tmp_path: Path) -> None:
    base = tmp_path.resolve()
    root = base / "www"
    root.mkdir()
    (base / "www-secret").mkdir()
    (root / "in").symlink_to(base / "www-secret")
    assert is_inside(str(root), str(root))
    assert is_inside(str(root), str(root / "a" / "b"))
    assert not is_inside(str(root), str(base / "www-secret" / "x"))
    assert not is_inside(str(root), str(root / ".." / "x"))
    assert not is_inside(str(root), str(root / "in" / "x"))


# --- content_type -----------------------------------------------------------------------------

TYPES = [
    ("index.html", "text/html; charset=utf-8"),
    ("page.HTM", "text/html; charset=utf-8"),
    ("notes.txt", "text/plain; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("app.js", "text/javascript; charset=utf-8"),
    ("module.mjs", "text/javascript; charset=utf-8"),
    ("data.json", "application/json"),
    ("app.js.map", "application/json"),
    ("site.webmanifest", "application/manifest+json"),
    ("logo.svg", "image/svg+xml; charset=utf-8"),
    ("module.wasm", "application/wasm"),
    ("photo.PNG", "image/png"),
    ("photo.jpeg", "image/jpeg"),
    ("font.woff2", "font/woff2"),
    ("doc.pdf", "application/pdf"),
    ("archive.tar.gz", "application/gzip"),
    ("movie.mp4", "video/mp4"),
    ("config.yaml", "application/yaml"),
    ("README.md", "text/markdown; charset=utf-8"),
    ("data.csv", "text/csv; charset=utf-8"),
    ("blob.unknownext", "application/octet-stream"),
    ("Makefile", "application/octet-stream"),
    (".bashrc", "application/octet-stream"),
    ("trailing.", "application/octet-stream"),
]


@pytest.mark.parametrize(("name", "expected"), TYPES, ids=[n for n, _ in TYPES])
def test_content_type(name: str, expected: str) -> None:
    assert content_type(name) == expected


@pytest.mark.parametrize(
    ("media", "expected"),
    [
        ("text/css; charset=utf-8", True),
        ("application/json", True),
        ("image/svg+xml; charset=utf-8", True),
        ("application/wasm", True),
        ("image/png", False),
        ("application/gzip", False),
        ("application/octet-stream", False),
    ],
    ids=["css", "json", "svg", "wasm", "png", "gzip", "octet-stream"],
)
def test_is_compressible(media: str, expected: bool) -> None:
    assert is_compressible(media) is expected
