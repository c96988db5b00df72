"""Sans-IO HTTP/1.1 response serialisation: status lines, header blocks, chunked framing.

Nothing here writes; everything returns bytes. Header names and values are checked when they
are set (`check_header`), so a value with CR or LF can never split a response.
"""

from __future__ import annotations

import re
from email.utils import formatdate
from http import HTTPStatus

from porch.errors import ResponseError

__all__ = [
    "CONTINUE",
    "LAST_CHUNK",
    "body_allowed",
    "check_header",
    "chunk",
    "error_response",
    "http_date",
    "last_chunk",
    "render_head",
    "status_line",
]

_STATUS_LINES = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# field-value: VCHAR, obs-text, SP and HTAB; nothing else (RFC 9110 5.5).
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")


def status_line(status: int) -> bytes:
    """The status line for `status` (a three-digit code)."""
    valid = isinstance(status, int) and not isinstance(status, bool)
    line = _STATUS_LINES.get(status) if valid else None
    if line is None:
        if not valid or not 100 <= status <= 599:
            raise ResponseError(f"invalid HTTP status code {status!r} (RFC 9110: 100 to 599)")
        line = b"HTTP/1.1 %d \r\n" % status
    return line


def body_allowed(status: int) -> bool:
    """False for 1xx, 204 and 304, whose responses never carry a body (RFC 9110 6.4.1)."""
    return status >= 200 and status != 204 and status != 304


def check_header(name: str, value: str) -> None:
    """Raise `ResponseError` unless `name` is a token and `value` a valid field value."""
    if not isinstance(name, str) or _TOKEN.fullmatch(name) is None:
        raise ResponseError(f"invalid response header name {name!r}")
    if not isinstance(value, str) or _BAD_VALUE.search(value) is not None:
        raise ResponseError(
            f"invalid value for response header {name!r}: {value!r} "
            "(control characters, CR, LF and characters beyond latin-1 are not allowed)"
        )


# Encoded lines of single-header responses (most have just a content-type), bounded.
_ONE_FIELD: dict[tuple[str, str], bytes] = {}
_ONE_FIELD_MAX = 1024


def render_head(
    status: int, headers: list[tuple[str, str]], preamble: bytes, tail: bytes
) -> bytes:
    """Status line, `preamble` (pre-encoded lines such as Date and Server), the checked
    `headers`, then `tail` (framing lines the server decided on) and the blank line."""
    line = _STATUS_LINES.get(status) or status_line(status)
    if len(headers) == 1:
        field = headers[0]
        encoded = _ONE_FIELD.get(field)
        if encoded is None:
            encoded = f"{field[0]}: {field[1]}\r\n".encode("latin-1")
            if len(_ONE_FIELD) < _ONE_FIELD_MAX:
                _ONE_FIELD[field] = encoded
        return b"".join((line, preamble, encoded, tail, b"\r\n"))
    if headers:
        fields = "".join([f"{name}: {value}\r\n" for name, value in headers])
        return b"".join((line, preamble, fields.encode("latin-1"), tail, b"\r\n"))
    return b"".join((line, preamble, tail, b"\r\n"))


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (never call it with empty data: that ends the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def last_chunk(trailers: list[tuple[str, str]] | None) -> bytes:
    """The end of a chunked body, with trailer fields (already checked) when there are some."""
    if not trailers:
        return LAST_CHUNK
    fields = "".join([f"{name}: {value}\r\n" for name, value in trailers])
    return b"0\r\n" + fields.encode("latin-1") + b"\r\n"


def http_date(timestamp: float) -> bytes:
    """An IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    return formatdate(timestamp, usegmt=True).encode("ascii")


def error_response(status: int, detail: str, preamble: bytes = b"", close: bool = True) -> bytes:
    """A complete plain-text response for an error the server answers by itself."""
    body = (detail + "\n").encode("utf-8", "replace")
    tail = b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n" % len(body)
    if close:
        tail += b"connection: close\r\n"
    return render_head(status, [], preamble, tail) + body
