"""The directory listing page: sorting, escaping, links, sizes, JSON and the page's shape.

The HTML is parsed with `html.parser.HTMLParser` into a small tree, and the tests check the
values a browser would see (decoded attributes and text), not substrings of the markup.
"""

from __future__ import annotations

import calendar
import json
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote, unquote_to_bytes

import pytest

from porch.static.listing import (
    SORT_KEYS,
    Entry,
    human_size,
    render_html,
    render_json,
    sort_entries,
)

T0 = float(calendar.timegm((2026, 11, 25, 14, 0, 0)))  # 2026-11-25T14:00:00Z
VOID = {"meta", "link", "br", "img", "input", "hr", "col", "source", "wbr"}

HOSTILE = [
    "<script>alert(1)</script>",
    'say "hi"',
    "it's",
    "fish & chips",
    "#anchor",
    "what?.txt",
    "%2e%2e",
    "100%",
    "two  spaces ",
    "a/b",
    "Ünïcødé 日本語.txt",
    "party 🎉.png",
    "<img src=x onerror=alert(1)>",
    "&amp;",
    "..",
    "=\"'><",
]


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def iter(self, tag: str | None = None) -> list[Node]:
        found: list[Node] = []
        for child in self.children:
            if isinstance(child, Node):
                if tag is None or child.tag == tag:
                    found.append(child)
                found.extend(child.iter(tag))
        return found

    def by_id(self, ident: str) -> Node:
        (node,) = [n for n in self.iter() if n.attrs.get("id") == ident]
        return node

    def has_class(self, name: str) -> bool:
        return name in (self.attrs.get("class") or "").split()


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.doctype: str | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        assert len(node.attrs) == len(attrs), f"duplicate attribute on <{tag}>"
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(page: str) -> Node:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    assert builder.doctype is not None and builder.doctype.lower() == "doctype html"
    return builder.root


def entry_rows(doc: Node) -> list[Node]:
    return [tr for tr in doc.by_id("listing").iter("tr") if "data-name" in tr.attrs]


def row_link(row: Node) -> Node:
    (cell,) = [td for td in row.iter("td") if td.has_class("n")]
    (link,) = cell.iter("a")
    return link


def d(name: str, mtime: float = T0) -> Entry:
    return Entry(name, True, 0, mtime)


def f(name: str, size: int = 0, mtime: float = T0) -> Entry:
    return Entry(name, False, size, mtime)


def names(entries: list[Entry]) -> list[str]:
    return [e.name for e in entries]


# --- sorting ---------------------------------------------------------------------------------

MIXED = [
    f("b.txt", 30, T0 + 1),
    d("Zeta", T0 + 5),
    f("A.txt", 10, T0 + 3),
    d("alpha", T0 + 2),
    f("a.txt", 20, T0 + 2),
    d("beta", T0 + 1),
    f("C.txt", 20, T0),
]


@pytest.mark.parametrize("key", [*SORT_KEYS, "bogus"])
@pytest.mark.parametrize("descending", [False, True])
def test_folders_always_come_first(key: str, descending: bool) -> None:
    result = sort_entries(MIXED, key, descending)
    kinds = [e.is_dir for e in result]
    assert kinds == [True] * 3 + [False] * 4
    assert sorted(names(result)) == sorted(names(MIXED))


def test_name_order_is_case_insensitive_with_exact_name_ties() -> None:
    entries = [f("b"), f("a"), f("B"), f("A"), f("Ä"), f("c"), d("Z"), d("y")]
    assert names(sort_entries(entries)) == ["y", "Z", "A", "a", "B", "b", "c", "Ä"]
    assert names(sort_entries(entries, "name", descending=True)) == [
        "Z",
        "y",
        "Ä",
        "c",
        "b",
        "B",
        "a",
        "A",
    ]


def test_casefold_not_lower() -> None:
    # "ß".casefold() == "ss", so "Straße" sorts with "strasse", before "strasz".
    assert names(sort_entries([f("strasz"), f("Straße"), f("strase")])) == [
        "strase",
        "Straße",
        "strasz",
    ]


def test_size_order_keeps_equal_sizes_in_name_order_both_ways() -> None:
    assert names(sort_entries(MIXED, "size")) == [
        "alpha",
        "beta",
        "Zeta",
        "A.txt",
        "a.txt",
        "C.txt",
        "b.txt",
    ]
    assert names(sort_entries(MIXED, "size", descending=True)) == [
        "alpha",
        "beta",
        "Zeta",
        "b.txt",
        "a.txt",
        "C.txt",
        "A.txt",
    ]


def test_folder_sizes_are_ignored() -> None:
    entries = [Entry("b", True, 1, T0), Entry("a", True, 999, T0)]
    assert names(sort_entries(entries, "size")) == ["a", "b"]
    assert names(sort_entries(entries, "size", descending=True)) == ["a", "b"]


def test_mtime_order() -> None:
    assert names(sort_entries(MIXED, "mtime")) == [
        "beta",
        "alpha",
        "Zeta",
        "C.txt",
        "b.txt",
        "a.txt",
        "A.txt",
    ]
    assert names(sort_entries(MIXED, "mtime", descending=True)) == [
        "Zeta",
        "alpha",
        "beta",
        "A.txt",
        "a.txt",
        "b.txt",
        "C.txt",
    ]


def test_mtime_ties_and_nan_keep_name_order() -> None:
    entries = [f("c", mtime=float("nan")), f("b"), f("a"), f("z", mtime=T0 + 1)]
    assert names(sort_entries(entries, "mtime", descending=True)) == ["z", "a", "b", "c"]


def test_unknown_key_falls_back_to_name() -> None:
    assert sort_entries(MIXED, "bogus") == sort_entries(MIXED, "name")
    assert sort_entries(MIXED, "bogus", True) == sort_entries(MIXED, "name", True)


def test_sort_returns_a_new_list() -> None:
    entries = list(MIXED)
    result = sort_entries(entries, "size", True)
    assert entries == MIXED
    assert result is not entries
    assert sort_entries([]) == []


# --- human sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (999, "999 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1024 * 1024 - 1, "1.0 MiB"),  # would round to 1024.0 KiB
        (1024 * 1024, "1.0 MiB"),
        (1572864, "1.5 MiB"),
        (2 * 1024**3, "2.0 GiB"),
        (1024**4, "1.0 TiB"),
        (1024**6, "1.0 EiB"),
        (2048 * 1024**8, "2048.0 YiB"),
        (-5, "0 B"),
    ],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


# --- escaping and links ----------------------------------------------------------------------


@pytest.mark.parametrize("is_dir", [False, True])
def test_hostile_names_are_escaped_in_text_and_encoded_in_hrefs(is_dir: bool) -> None:
    entries = [Entry(name, is_dir, 7, T0) for name in HOSTILE]
    page = render_html("/x/", entries)
    doc = parse(page)
    rows = entry_rows(doc)
    assert [r.attrs["data-name"] for r in rows] == names(sort_entries(entries))
    for row in rows:
        name = row.attrs["data-name"]
        assert name is not None
        link = row_link(row)
        assert link.text == name
        expected = quote(name, safe="") + ("/" if is_dir else "")
        assert link.attrs["href"] == expected
        assert row.attrs["data-type"] == ("dir" if is_dir else "file")
    # nothing the names carry became markup
    assert not doc.iter("script")
    assert not doc.iter("img")
    assert "<script" not in page.lower()


@pytest.mark.parametrize(
    ("name", "href"),
    [
        ("#anchor", "%23anchor"),
        ("what?.txt", "what%3F.txt"),
        ("%2e%2e", "%252e%252e"),
        ("a b", "a%20b"),
        ("a/b", "a%2Fb"),
        ("é", "%C3%A9"),
        ("🎉", "%F0%9F%8E%89"),
        ("..", ".."),
        ("a&b", "a%26b"),
        ('"', "%22"),
    ],
)
def test_href_values(name: str, href: str) -> None:
    (row,) = entry_rows(parse(render_html("/", [f(name)])))
    assert row_link(row).attrs["href"] == href
    (folder,) = entry_rows(parse(render_html("/", [d(name)])))
    assert row_link(folder).attrs["href"] == href + "/"


def test_data_attributes_are_quoted_in_the_markup() -> None:
    page = render_html("/", [f('a"b'), f("c'd"), f("<&>")])
    assert 'data-name="a&quot;b"' in page
    assert 'data-name="c&#x27;d"' in page
    assert 'data-name="&lt;&amp;&gt;"' in page


def test_undecodable_name_links_to_its_bytes_and_shows_replacement() -> None:
    name = b"bad\xffname".decode("utf-8", "surrogateescape")
    (row,) = entry_rows(parse(render_html("/", [f(name)])))
    assert row_link(row).attrs["href"] == "bad%FFname"
    assert unquote_to_bytes("bad%FFname") == b"bad\xffname"
    assert row_link(row).text == "bad\ufffdname"
    assert row.attrs["data-name"] == "bad\ufffdname"
    page = render_html("/", [f("\ud800x")])  # not from surrogateescape: still renders
    page.encode("utf-8")


def test_control_characters_are_shown_as_replacement() -> None:
    (row,) = entry_rows(parse(render_html("/", [f("a\nb\x1b\x7f")])))
    assert row_link(row).text == "a\ufffdb\ufffd\ufffd"
    assert row_link(row).attrs["href"] == "a%0Ab%1B%7F"


def test_links_are_relative_and_page_has_no_scripts_or_handlers() -> None:
    page = render_html("/a/b/", [f("x"), d("y"), f("javascript:alert(1)")])
    doc = parse(page)
    for node in doc.iter():
        assert node.tag not in {"script", "iframe", "object", "embed", "img", "link", "base"}
        for attr, value in node.attrs.items():
            assert not attr.startswith("on"), (node.tag, attr)
            if attr in {"href", "src", "action"}:
                assert value is not None
                assert ":" not in value and not value.startswith("/"), value
    (style,) = doc.iter("style")
    assert "url(" not in style.text and "@import" not in style.text
    for use in doc.iter("use"):
        assert (use.attrs["href"] or "").startswith("#")


# --- page structure --------------------------------------------------------------------------


def test_page_head() -> None:
    doc = parse(render_html("/docs/", [f("a")]))
    (html,) = doc.iter("html")
    assert html.attrs["lang"] == "en"
    metas = doc.iter("meta")
    assert any(m.attrs.get("charset") == "utf-8" for m in metas)
    assert any(
        m.attrs.get("name") == "viewport"
        and m.attrs.get("content") == "width=device-width, initial-scale=1"
        for m in metas
    )
    (title,) = doc.iter("title")
    assert title.text == "Index of /docs/"
    (style,) = doc.iter("style")
    assert "prefers-color-scheme:dark" in style.text
    assert "overflow-wrap:anywhere" in style.text
    assert "max-width:480px" in style.text


def test_title_is_escaped() -> None:
    doc = parse(render_html("/<b>&/", []))
    (title,) = doc.iter("title")
    assert title.text == "Index of /<b>&/"
    assert not doc.iter("b")


def breadcrumb(doc: Node) -> tuple[list[tuple[str | None, str]], str]:
    (h1,) = doc.iter("h1")
    links = [(a.attrs["href"], a.text) for a in h1.iter("a")]
    (current,) = [s for s in h1.iter("span") if s.attrs.get("aria-current") == "page"]
    return links, current.text


def test_breadcrumb() -> None:
    doc = parse(render_html("/docs/img/", []))
    assert breadcrumb(doc) == ([("../../", "/"), ("../", "docs")], "img")
    (h1,) = doc.iter("h1")
    assert h1.text == "Index of /docs/img/"


def test_breadcrumb_at_root_and_one_level() -> None:
    assert breadcrumb(parse(render_html("/", []))) == ([], "/")
    assert breadcrumb(parse(render_html("/docs/", []))) == ([("../", "/")], "docs")


def test_breadcrumb_escapes_segments() -> None:
    doc = parse(render_html("/a&b/<i>x&amp;/\"q'/", []))
    links, current = breadcrumb(doc)
    assert links == [("../../../", "/"), ("../../", "a&b"), ("../", "<i>x&amp;")]
    assert current == "\"q'"
    (h1,) = doc.iter("h1")
    assert not h1.iter("i")


def test_breadcrumb_counts_empty_segments_like_a_browser() -> None:
    links, current = breadcrumb(parse(render_html("/a//b/", [])))
    assert [href for href, _ in links] == ["../../../", "../../", "../"]
    assert current == "b"


def test_missing_slashes_are_added() -> None:
    doc = parse(render_html("docs", []))
    assert breadcrumb(doc) == ([("../", "/")], "docs")
    (title,) = doc.iter("title")
    assert title.text == "Index of /docs/"


def test_parent_link_only_below_root() -> None:
    assert parse(render_html("/docs/", [f("a")])).by_id("parent").attrs["href"] == "../"
    doc = parse(render_html("/", [f("a")]))
    assert not [n for n in doc.iter() if n.attrs.get("id") == "parent"]
    assert not [a for a in doc.iter("a") if a.attrs.get("href") == "../"]


def test_table_columns_sizes_and_times() -> None:
    mtime = T0 + 59.9  # 14:00:59.9 shows as 14:00, datetime to the second
    doc = parse(render_html("/", [f("file.bin", 1536, mtime), d("dir", T0 - 86400)]))
    table = doc.by_id("listing")
    assert [th.text.strip("▲▼") for th in table.iter("th")] == ["Name", "Size", "Modified"]
    folder, file = entry_rows(doc)
    assert folder.attrs["data-type"] == "dir" and file.attrs["data-type"] == "file"
    cells = [td.text for td in folder.iter("td")]
    assert cells == ["dir", "—", "2026-11-24 14:00"]
    cells = [td.text for td in file.iter("td")]
    assert cells == ["file.bin", "1.5 KiB", "2026-11-25 14:00"]
    (stamp,) = file.iter("time")
    assert stamp.attrs["datetime"] == "2026-11-25T14:00:59Z"


def test_extreme_times_do_not_fail() -> None:
    entries = [f("old", mtime=-1e300), f("new", mtime=1e300), f("nan", mtime=float("nan"))]
    doc = parse(render_html("/", entries))
    stamps = {r.attrs["data-name"]: r.iter("time")[0].attrs["datetime"] for r in entry_rows(doc)}
    assert stamps == {
        "nan": "1970-01-01T00:00:00Z",
        "new": "9999-12-31T23:59:59Z",
        "old": "0001-01-01T00:00:00Z",
    }


def sort_header(doc: Node, key: str) -> tuple[str | None, str | None, str]:
    link = doc.by_id(f"sort-{key}")
    (th,) = [th for th in doc.iter("th") if link in th.iter("a")]
    return link.attrs["href"], th.attrs.get("aria-sort"), link.text


def test_sort_links_default() -> None:
    doc = parse(render_html("/", MIXED))
    assert sort_header(doc, "name") == ("?sort=name&order=desc", "ascending", "Name▲")
    assert sort_header(doc, "size") == ("?sort=size&order=asc", None, "Size")
    assert sort_header(doc, "mtime") == ("?sort=mtime&order=asc", None, "Modified")


@pytest.mark.parametrize("key", SORT_KEYS)
def test_sort_links_flip_the_active_column(key: str) -> None:
    label = {"name": "Name", "size": "Size", "mtime": "Modified"}
    for descending, order, flipped, arrow in [
        (False, "ascending", "desc", "▲"),
        (True, "descending", "asc", "▼"),
    ]:
        entries = MIXED
        doc = parse(render_html("/", entries, key, descending))
        assert sort_header(doc, key) == (f"?sort={key}&order={flipped}", order, label[key] + arrow)
        for other in SORT_KEYS:
            if other != key:
                assert sort_header(doc, other) == (f"?sort={other}&order=asc", None, label[other])
        shown = [r.attrs["data-name"] for r in entry_rows(doc)]
        assert shown == names(sort_entries(entries, key, descending))


def test_unknown_sort_key_renders_as_name() -> None:
    assert render_html("/", MIXED, "bogus", True) == render_html("/", MIXED, "name", True)


def footer_text(doc: Node) -> str:
    (footer,) = doc.iter("footer")
    return " ".join(footer.text.split())


def test_footer_counts() -> None:
    text = footer_text(parse(render_html("/", MIXED)))
    assert text.startswith("3 folders, 4 files (")
    assert text.endswith("porch")
    assert footer_text(parse(render_html("/", [d("a"), f("b", 2048)]))).startswith(
        "1 folder, 1 file (2.0 KiB)"
    )
    assert footer_text(parse(render_html("/", [d("a"), d("b")]))).startswith("2 folders, 0 files")


def test_empty_folder() -> None:
    doc = parse(render_html("/empty/", []))
    table = doc.by_id("listing")
    assert entry_rows(doc) == []
    (empty,) = [tr for tr in table.iter("tr") if tr.has_class("empty")]
    (cell,) = empty.iter("td")
    assert cell.text == "This folder is empty."
    assert cell.attrs["colspan"] == "3"
    assert doc.by_id("parent").attrs["href"] == "../"
    assert footer_text(doc).startswith("0 folders, 0 files")
    assert "This folder is empty." not in render_html("/", [f("a")])


def test_thousand_entries_render_quickly() -> None:
    entries = [
        Entry(f"file {i} <&> #?.txt", i % 7 == 0, i * 1031, T0 - i * 61.5) for i in range(1000)
    ]
    start = time.perf_counter()
    for key in SORT_KEYS:
        page = render_html("/big/", entries, key, descending=True)
    body = render_json("/big/", entries)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0  # a starvation bound, not a benchmark
    assert len(entry_rows(parse(page))) == 1000
    assert len(json.loads(body)["entries"]) == 1000


# --- JSON ------------------------------------------------------------------------------------


def test_json_shape_and_order() -> None:
    entries = [
        f("b.txt", 5, T0 + 0.75),
        d("Sub dir", T0 - 60),
        f("A #1?.txt", 0, T0),
        d("alpha"),
    ]
    data = json.loads(render_json("/docs/", entries))
    assert data == {
        "path": "/docs/",
        "entries": [
            {
                "name": "alpha",
                "type": "dir",
                "size": None,
                "mtime": "2026-11-25T14:00:00Z",
                "url": "alpha/",
            },
            {
                "name": "Sub dir",
                "type": "dir",
                "size": None,
                "mtime": "2026-11-25T13:59:00Z",
                "url": "Sub%20dir/",
            },
            {
                "name": "A #1?.txt",
                "type": "file",
                "size": 0,
                "mtime": "2026-11-25T14:00:00Z",
                "url": "A%20%231%3F.txt",
            },
            {
                "name": "b.txt",
                "type": "file",
                "size": 5,
                "mtime": "2026-11-25T14:00:00Z",
                "url": "b.txt",
            },
        ],
    }


def test_json_hostile_and_undecodable_names() -> None:
    bad = b"x\xfe".decode("utf-8", "surrogateescape")
    entries = [f(name) for name in HOSTILE] + [f(bad)]
    body = render_json("/é/", entries)
    assert isinstance(body, bytes)
    data = json.loads(body)
    assert data["path"] == "/é/"
    by_name = {e["name"]: e["url"] for e in data["entries"]}
    for name in HOSTILE:
        assert by_name[name] == quote(name, safe="")
    assert by_name["x\ufffd"] == "x%FE"


def test_json_empty_folder() -> None:
    assert json.loads(render_json("/", [])) == {"path": "/", "entries": []}
