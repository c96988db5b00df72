"""The directory listing page that ``porch static`` shows for a folder without an index.html.

Pure functions: the caller lists the folder into `Entry` values and gets back a complete HTML5
page (`render_html`) or a JSON document (`render_json`). Nothing here touches the file system
or the request, so the output depends only on the arguments.

The page is safe to serve under ``Content-Security-Policy: default-src 'none'; style-src
'unsafe-inline'``: one inline ``<style>``, an inline SVG sprite, no scripts, no event handlers,
nothing fetched. Every link is relative (``name/``, ``../``, ``?sort=size&order=desc``), so the
page works behind a reverse proxy or under a mount prefix and never echoes the Host header.
Sorting works without JavaScript: the column headers link to ``?sort=KEY&order=asc|desc`` and
the caller passes those query values back to `render_html` (unknown values fall back to name,
ascending).

Names may contain any character. Text and attributes are escaped with `html.escape`; hrefs
percent-encode the name's bytes with `urllib.parse.quote` (``safe=""``), so ``#``, ``?``, ``%``
and ``/`` stay part of the name. A name that came from ``os.listdir`` with undecodable bytes
(lone surrogates from ``surrogateescape``) links to its original bytes and is displayed with
U+FFFD in their place; control characters are displayed as U+FFFD too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import quote

import msgspec

__all__ = [
    "SORT_KEYS",
    "Entry",
    "human_size",
    "render_html",
    "render_json",
    "sort_entries",
]

SORT_KEYS = ("name", "size", "mtime")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_TIME = datetime(1, 1, 1, tzinfo=UTC)
_MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
# C0/C1 controls and DEL display as U+FFFD: they are invisible or parse errors in HTML.
_CONTROLS = {c: "\ufffd" for c in (*range(0x20), *range(0x7F, 0xA0))}
_DASH = "\u2014"
_HEADERS = (("name", "Name", "n"), ("size", "Size", "s"), ("mtime", "Modified", "m"))


@dataclass(frozen=True, slots=True)
class Entry:
    """One file or folder in a listing.

    `name` is the name as on disk (any character; undecodable bytes as lone surrogates are
    fine), `size` is in bytes and ignored for folders, `mtime` is seconds since the epoch.
    """

    name: str
    is_dir: bool
    size: int
    mtime: float


def _name_key(entry: Entry) -> tuple[str, str]:
    return (entry.name.casefold(), entry.name)


def _size_key(entry: Entry) -> int:
    return 0 if entry.is_dir else entry.size


def _mtime_key(entry: Entry) -> float:
    return entry.mtime if not math.isnan(entry.mtime) else 0.0


_SECONDARY: dict[str, Callable[[Entry], float]] = {
    "size": _size_key,
    "mtime": _mtime_key,
}


def sort_entries(entries: list[Entry], key: str = "name", descending: bool = False) -> list[Entry]:
    """Return a new list: folders first, then files, each group ordered by `key`.

    ``name`` compares case-insensitively (`str.casefold`, ties by the exact name). ``size`` and
    ``mtime`` order by that value and keep equal values in name order (A to Z) in both
    directions; folders have no size, so under ``size`` they stay in name order. `descending`
    reverses the order within each group, never the folders-first rule. An unknown `key` falls
    back to ``name``. The input list is not modified.
    """
    ordered = sorted(entries, key=_name_key, reverse=descending and key not in _SECONDARY)
    secondary = _SECONDARY.get(key)
    if secondary is not None:
        ordered.sort(key=secondary, reverse=descending)  # stable: equal values stay A to Z
    return [e for e in ordered if e.is_dir] + [e for e in ordered if not e.is_dir]


def _raw(name: str) -> bytes:
    """The bytes of `name` as on disk (UTF-8, surrogate-escaped bytes restored)."""
    try:
        return name.encode()
    except UnicodeEncodeError:
        try:
            return name.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return name.encode("utf-8", "surrogatepass")


def _display(name: str) -> str:
    """`name` as text a page or JSON can carry: valid Unicode, no control characters."""
    if not name.isprintable():  # cheap pre-check; most names are printable
        name = _raw(name).decode("utf-8", "replace").translate(_CONTROLS)
    return name


def _href(entry: Entry) -> str:
    """The relative URL of `entry`: its percent-encoded bytes, ``/`` appended for a folder."""
    url = quote(_raw(entry.name), safe="")
    return url + "/" if entry.is_dir else url


def _utc(mtime: float) -> datetime:
    """`mtime` as an aware UTC datetime, clamped to the years 1 to 9999 (NaN is the epoch)."""
    if math.isnan(mtime):
        return _EPOCH
    try:
        return _EPOCH + timedelta(seconds=mtime)
    except OverflowError:
        return _MAX_TIME if mtime > 0 else _MIN_TIME


def _iso(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (four-digit year even before 1000, unlike strftime)."""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def human_size(size: int) -> str:
    """`size` bytes in binary units: ``0 B``, ``999 B``, ``1023 B``, ``1.0 KiB``, ``1.5 MiB``.

    One decimal from KiB up; a value that would round to 1024.0 moves to the next unit.
    Negative sizes show as ``0 B``.
    """
    if size < 1024:
        return f"{max(size, 0)} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if round(value, 1) < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def render_json(url_path: str, entries: list[Entry]) -> bytes:
    """The listing as JSON: ``{"path": url_path, "entries": [...]}``, folders first, by name.

    Each entry is ``{"name", "type": "dir"|"file", "size" (null for folders), "mtime"
    ("2026-11-25T14:00:00Z", UTC, whole seconds), "url"}``; ``url`` is relative to the folder
    (percent-encoded, ``/`` appended for folders). Names with undecodable bytes are given
    with U+FFFD in `name` (the exact bytes are in `url`).
    """
    items = [
        {
            "name": _display(e.name),
            "type": "dir" if e.is_dir else "file",
            "size": None if e.is_dir else e.size,
            "mtime": _iso(_utc(e.mtime)),
            "url": _href(e),
        }
        for e in sort_entries(entries)
    ]
    return msgspec.json.encode({"path": _display(url_path), "entries": items})


def _normalize(url_path: str) -> str:
    if not url_path.startswith("/"):
        url_path = "/" + url_path
    if not url_path.endswith("/"):
        url_path += "/"
    return url_path


def _breadcrumb(url_path: str) -> str:
    """``/docs/img/`` as links ``/`` (``../../``) and ``docs`` (``../``), then plain ``img``.

    The slashes between segments are separate (muted) text, so a person sees which part is
    which link. Relative links count the segments exactly as a browser resolves ``../``
    (empty segments from ``//`` included), so they work under any mount prefix.
    """
    segments = url_path[1:-1].split("/") if url_path != "/" else []
    depth = len(segments)
    if not depth:
        return '<span class="root" aria-current="page">/</span>'
    parts = [f'<a class="root" href="{"../" * depth}" title="Top folder">/</a>']
    for i, segment in enumerate(segments, 1):
        text = escape(_display(segment))
        if i < depth:
            parts.append(f'<a href="{"../" * (depth - i)}">{text}</a><span class="sep">/</span>')
        else:
            parts.append(f'<span aria-current="page">{text}</span><span class="sep">/</span>')
    return "".join(parts)


def _header_cell(column: str, label: str, css: str, key: str, descending: bool) -> str:
    active = column == key
    order = "asc" if not active or descending else "desc"
    aria, arrow = "", ""
    if active:
        direction = "descending" if descending else "ascending"
        aria = f' aria-sort="{direction}"'
        arrow = f'<span class="arrow" aria-hidden="true">{"▼" if descending else "▲"}</span>'
    return (
        f'<th scope="col" class="{css}"{aria}><a id="sort-{column}" '
        f'href="?sort={column}&amp;order={order}">{label}{arrow}</a></th>'
    )


def _icon(symbol: str) -> str:
    return f'<svg class="i" aria-hidden="true"><use href="#i-{symbol}"/></svg>'


def _row(entry: Entry) -> str:
    name = escape(_display(entry.name), quote=True)
    href = _href(entry)  # only unreserved characters, "%" and "/": attribute-safe
    moment = _utc(entry.mtime)
    iso = _iso(moment)
    shown = f"{iso[:10]} {iso[11:16]}"
    if entry.is_dir:
        kind, icon, size = "dir", "d", f'<td class="s">{_DASH}</td>'
    else:
        kind, icon = "file", "f"
        size = f'<td class="s" title="{max(entry.size, 0):,} bytes">{human_size(entry.size)}</td>'
    return (
        f'<tr data-name="{name}" data-type="{kind}"><td class="n"><a href="{href}">'
        f"{_icon(icon)}<span>{name}</span></a></td>"
        f'{size}<td class="m"><time datetime="{iso}">{shown}</time></td></tr>'
    )


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _summary(entries: list[Entry]) -> str:
    folders = sum(1 for e in entries if e.is_dir)
    files = len(entries) - folders
    total = sum(max(e.size, 0) for e in entries if not e.is_dir)
    text = f"{_plural(folders, 'folder')}, {_plural(files, 'file')}"
    return text + f" ({human_size(total)})" if files else text


_STYLE = """\
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--mute:#5d6670;--line:#d9dee4;\
--head:#f6f8fa;--hover:#f0f4f9;--link:#0a5fc7;--dir:#3b8de0}
@media (prefers-color-scheme:dark){:root{--bg:#0f1318;--fg:#e4e9ef;--mute:#96a0ab;\
--line:#2e353e;--head:#161b22;--hover:#1a2029;--link:#6cb0ff;--dir:#6cb0ff}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);\
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main{max-width:980px;margin:0 auto;padding:28px 20px 40px}
h1{margin:0 0 18px;font-size:1.35rem;font-weight:600;line-height:1.3;overflow-wrap:anywhere}
h1 .pre{color:var(--mute);font-weight:400}
h1 .sep{color:var(--mute);font-weight:400;padding:0 2px}
h1 .root{padding:0 4px 0 2px}
a{color:var(--link);text-decoration:none}
a:hover{text-decoration:underline}
a:focus-visible{outline:2px solid var(--link);outline-offset:2px;border-radius:3px}
.box{border:1px solid var(--line);border-radius:8px;overflow:hidden}
table{width:100%;border-collapse:collapse}
th,td{padding:7px 14px;text-align:left;vertical-align:top}
td{border-top:1px solid var(--line)}
thead th{background:var(--head);font-size:.85rem;font-weight:600;white-space:nowrap}
th a{color:var(--fg)}
th[aria-sort] a{color:var(--link)}
.arrow{margin-left:4px;font-size:.7rem}
th.s,th.m,td.s,td.m{width:1%;white-space:nowrap;font-variant-numeric:tabular-nums}
th.s,td.s{text-align:right}
td.s,td.m{color:var(--mute)}
td.n{overflow-wrap:anywhere}
td.n a{display:flex;align-items:flex-start}
tbody tr:hover{background:var(--hover)}
tr[data-type=dir] td.n a{font-weight:500}
tr[data-type=dir] td.n span::after{content:"/";color:var(--mute)}
.i{flex:none;width:16px;height:16px;margin:3px 9px 0 0;fill:var(--mute)}
tr[data-type=dir] .i,tr.up .i{fill:var(--dir)}
.sprite{position:absolute;width:0;height:0;overflow:hidden}
tr.empty td{padding:28px 14px;text-align:center;color:var(--mute)}
footer{display:flex;flex-wrap:wrap;justify-content:space-between;gap:4px 16px;\
margin-top:12px;color:var(--mute);font-size:.85rem}
@media (max-width:480px){main{padding:18px 10px 28px}h1{font-size:1.15rem}\
th,td{padding:9px 10px}th.m,td.m{display:none}}
"""

_SPRITE = (
    '<svg class="sprite" aria-hidden="true">'
    '<symbol id="i-d" viewBox="0 0 16 16"><path d="M1 3.5C1 2.7 1.7 2 2.5 2h3.4l1.6 1.6h6'
    'c.8 0 1.5.7 1.5 1.5v7.4c0 .8-.7 1.5-1.5 1.5h-11c-.8 0-1.5-.7-1.5-1.5z"/></symbol>'
    '<symbol id="i-f" viewBox="0 0 16 16"><path d="M4 1h5.2L13 4.8v8.7c0 .8-.7 1.5-1.5 1.5'
    'h-7c-.8 0-1.5-.7-1.5-1.5v-11C3 1.7 3.2 1 4 1zm.5 1.5v11h7V5.5H8.5v-3z"/></symbol>'
    '<symbol id="i-u" viewBox="0 0 16 16"><path d="M8 2.5 13 7.5h-3.2V14H6.2V7.5H3z"/></symbol>'
    "</svg>"
)


def render_html(
    url_path: str, entries: list[Entry], key: str = "name", descending: bool = False
) -> str:
    """A complete HTML5 page listing `entries` of the folder at `url_path`.

    `url_path` is the decoded URL path of the folder, starting and ending with ``/`` (e.g.
    ``/docs/img/``; a missing slash is added). `key` and `descending` are the sort the page
    shows (from ``?sort=`` and ``?order=desc``); an unknown `key` means name. The page relies
    on the folder URL ending with ``/``: entry links are relative (``name``, ``name/``,
    ``../``). Hooks for tests: ``table#listing``, entry rows ``tr[data-name][data-type]``
    (``dir``/``file``), the parent row ``tr.up`` with ``a#parent``, the empty-folder row
    ``tr.empty``, header links ``#sort-name``, ``#sort-size``, ``#sort-mtime``.
    """
    url_path = _normalize(url_path)
    if key not in SORT_KEYS:
        key = "name"
    title = escape(_display(url_path))
    head = "".join(_header_cell(c, label, css, key, descending) for c, label, css in _HEADERS)
    rows = [_row(e) for e in sort_entries(entries, key, descending)]
    if url_path != "/":
        rows.insert(
            0,
            f'<tr class="up"><td class="n"><a id="parent" href="../">{_icon("u")}'
            "<span>Parent folder</span></a></td>"
            '<td class="s"></td><td class="m"></td></tr>',
        )
    if not entries:
        rows.append('<tr class="empty"><td colspan="3">This folder is empty.</td></tr>')
    body = "\n".join(rows)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>Index of {title}</title>
<style>
{_STYLE}</style>
</head>
<body>
{_SPRITE}
<main>
<h1><span class="pre">Index of </span>{_breadcrumb(url_path)}</h1>
<div class="box">
<table id="listing">
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
</div>
<footer><span>{_summary(entries)} · times in UTC</span><span>porch</span></footer>
</main>
</body>
</html>
"""
