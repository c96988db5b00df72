"""The access log: one line per response on the ``porch.access`` logger.

`--access-log-format` picks the line:

- ``combined`` (the default): the Apache/nginx combined format, byte for byte, so every log
  analyser reads it; it has no response time.
- ``json``: one JSON object per line (time, client, method, path, query, protocol, status,
  size, duration_ms, user_agent, referer, and request_id when the request has X-Request-ID).
- a template with named fields in braces, e.g. ``{client} "{request}" {status}
  {duration_ms}``; the fields are listed in `FIELDS`. ``{{`` and ``}}`` are literal braces.

Request data can never forge a line or a field: in the text formats control characters,
DEL, bytes beyond ASCII, the double quote and the backslash are written as escapes (a literal
backslash is doubled, so every escape reads one way); in JSON the encoder escapes them, and
bytes are decoded as Latin-1, so any input gives valid JSON that maps back to the exact bytes.
"""

from __future__ import annotations

import logging
import string
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from porch.errors import ConfigError
from porch.request import Request

__all__ = ["FIELDS", "AccessLog", "escape", "logger"]

logger = logging.getLogger("porch.access")

# Control characters, DEL, bytes beyond ASCII, the quote and the backslash are written as
# escapes, so request data can never forge a log line or a field, and every escape is
# unambiguous (a literal backslash is doubled).
_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0x100)]}
_ESCAPES[ord('"')] = '\\"'
_ESCAPES[ord("\\")] = "\\\\"


def escape(data: bytes | str) -> str:
    """Request data made safe for a log line: ``\\xNN`` for control and non-ASCII bytes."""
    if isinstance(data, bytes):
        data = data.decode("latin-1")
    return data.translate(_ESCAPES)


# One finished exchange, as the field functions see it.
Entry = tuple[Request, int, int, float]  # request, status, body bytes sent, seconds taken


def _client(e: Entry) -> str:
    client = e[0].client
    return client[0] if client else "-"


def _target(request: Request) -> bytes:
    if request.query_string:
        return request.raw_path + b"?" + request.query_string
    return request.raw_path


def _header(name: str) -> Callable[[Entry], str]:
    def get(e: Entry) -> str:
        return escape(e[0].headers.get(name, "-"))

    return get


def _iso_time() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# name -> (what it is, how it is computed); every text value is escaped already.
FIELDS: dict[str, tuple[str, Callable[[Entry], str]]] = {
    "client": ("the client's address, '-' on a UNIX socket", _client),
    "time": ("local time, as 10/Oct/2026:13:55:36 +0200", lambda e: _clf_time()),
    "time_iso": ("UTC time, ISO 8601 with milliseconds", lambda e: _iso_time()),
    "method": ("the request method", lambda e: e[0].method),
    "path": ("the path as sent (still percent-encoded)", lambda e: escape(e[0].raw_path)),
    "query": ("the query string as sent, '' if none", lambda e: escape(e[0].query_string)),
    "target": ("path?query", lambda e: escape(_target(e[0]))),
    "protocol": ("HTTP/1.1 or HTTP/1.0", lambda e: "HTTP/" + e[0].http_version),
    "request": (
        "the request line: GET /a?b HTTP/1.1",
        lambda e: f"{e[0].method} {escape(_target(e[0]))} HTTP/{e[0].http_version}",
    ),
    "scheme": ("http or https", lambda e: e[0].scheme),
    "host": ("the Host header, '-' if none", _header("host")),
    "status": ("the response status", lambda e: str(e[1])),
    "size": ("body bytes sent", lambda e: str(e[2])),
    "duration_ms": (
        "milliseconds from the request's start to its last byte",
        lambda e: f"{e[3] * 1000:.3f}",
    ),
    "duration_s": ("the same in seconds, as nginx's $request_time", lambda e: f"{e[3]:.6f}"),
    "user_agent": ("the User-Agent header, '-' if none", _header("user-agent")),
    "referer": ("the Referer header, '-' if none", _header("referer")),
    "request_id": ("the X-Request-ID header, '-' if none", _header("x-request-id")),
}

COMBINED = '{client} - - [{time}] "{request}" {status} {size} "{referer}" "{user_agent}"'
PRESETS = {"combined": COMBINED}


_clf_cache: list[Any] = [0, ""]  # (second, its text): one strftime per second


def _clf_time() -> str:
    now = int(time.time())
    if _clf_cache[0] != now:
        _clf_cache[:] = [now, time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(now))]
    return str(_clf_cache[1])


class AccessLog:
    """A compiled access-log format: ``log(request, status, size, seconds)`` writes a line.

    `timed` tells whether the format shows the response time; the server only measures it
    when some format or the metrics need it.
    """

    __slots__ = ("format", "timed", "_template", "_fields", "_json")

    def __init__(self, spec: str) -> None:
        self.format = spec
        self._json = spec == "json"
        if self._json:
            self._template = ""
            self._fields: tuple[Callable[[Entry], str], ...] = ()
            self.timed = True
            return
        template = PRESETS.get(spec, spec)
        if "{" not in template:
            raise ConfigError(
                f"--access-log-format must be combined, json or a template with "
                f"{{fields}}; got {spec!r}"
            )
        names = _template_fields(template)
        # Fields by position ({0} {1} ...): each computed once per line, in order.
        unique = list(dict.fromkeys(names))
        self._template = "".join(
            literal.replace("{", "{{").replace("}", "}}")
            + ("" if name is None else f"{{{unique.index(name)}}}")
            for literal, name, _, _ in string.Formatter().parse(template)
        )
        self._fields = tuple(FIELDS[name][1] for name in unique)
        self.timed = "duration_ms" in names or "duration_s" in names

    def line(self, request: Request, status: int, size: int, seconds: float) -> str:
        entry = (request, status, size, seconds)
        if self._json:
            return _json_line(entry)
        return self._template.format(*[get(entry) for get in self._fields])

    def log(self, request: Request, status: int, size: int, seconds: float) -> None:
        logger.info("%s", self.line(request, status, size, seconds))


def _template_fields(template: str) -> list[str]:
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"--access-log-format {template!r}: {exc}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS:
            raise ConfigError(
                f"--access-log-format: unknown field {{{name}}}; the fields are "
                + ", ".join(FIELDS)
            )
        if spec or conversion:
            raise ConfigError(
                f"--access-log-format: {{{name}}} takes no format spec or conversion"
            )
        names.append(name)
    return names


_encode = msgspec.json.Encoder().encode
# Keep JSON lines ASCII: DEL and the C1 controls (0x80-0x9f) some terminals obey are escaped
# too. Every string here came from Latin-1, so nothing lies beyond U+00FF.
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in range(0x7F, 0x100)}


def _json_line(e: Entry) -> str:
    request = e[0]
    headers = request.headers
    client = request.client
    record = {
        "time": _iso_time(),
        "client": client[0] if client else None,
        "method": request.method,
        "path": request.raw_path.decode("latin-1"),
        "query": request.query_string.decode("latin-1"),
        "protocol": "HTTP/" + request.http_version,
        "status": e[1],
        "size": e[2],
        "duration_ms": round(e[3] * 1000, 3),
        "user_agent": headers.get("user-agent"),
        "referer": headers.get("referer"),
    }
    request_id = headers.get("x-request-id")
    if request_id is not None:
        record["request_id"] = request_id
    return _encode(record).decode("utf-8").translate(_JSON_ESCAPES)
