"""Validators and conditional requests (RFC 9110 8.8 and 13) for files."""

from __future__ import annotations

import os
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime

__all__ = ["Conditions", "etag_for", "evaluate", "http_date", "if_range_allows", "parse_date"]


def etag_for(st: os.stat_result, suffix: str = "") -> str:
    """A strong ETag from size and modification time, as nginx forms it (``"size-mtime"``),
    with `suffix` for other encodings of the same file (``-br``, ``-gz``)."""
    return f'"{st.st_mtime_ns // 1000:x}-{st.st_size:x}{suffix}"'


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


def parse_date(value: str) -> float | None:
    """Seconds since the epoch from an HTTP date, or None if it is not one."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # asctime has no zone; HTTP dates are all GMT
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _weak_match(a: str, b: str) -> bool:
    return a.removeprefix("W/") == b.removeprefix("W/")


def none_match(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match value matches `etag` (RFC 9110 13.1.2's weak comparison:
    ``W/"x"`` matches ``"x"``; ``*`` matches any): a GET or HEAD then gets 304."""
    tags = _tags(if_none_match)
    return "*" in tags or any(_weak_match(t, etag) for t in tags)


class Conditions:
    """The conditional header fields of a request."""

    __slots__ = ("if_match", "if_none_match", "if_modified_since", "if_unmodified_since")

    def __init__(
        self,
        if_match: str | None = None,
        if_none_match: str | None = None,
        if_modified_since: str | None = None,
        if_unmodified_since: str | None = None,
    ) -> None:
        self.if_match = if_match
        self.if_none_match = if_none_match
        self.if_modified_since = if_modified_since
        self.if_unmodified_since = if_unmodified_since


def evaluate(conditions: Conditions, etag: str, mtime: float) -> int | None:
    """The status the preconditions call for on a GET or HEAD (412 or 304), or None to go on.

    The order is RFC 9110 13.2.2's: If-Match, else If-Unmodified-Since; then If-None-Match,
    else If-Modified-Since. Dates compare at whole seconds, the precision of HTTP dates.
    """
    seconds = int(mtime)
    if conditions.if_match is not None:
        tags = _tags(conditions.if_match)
        if "*" not in tags and not any(t == etag and not t.startswith("W/") for t in tags):
            return 412
    elif conditions.if_unmodified_since is not None:
        since = parse_date(conditions.if_unmodified_since)
        if since is not None and seconds > since:
            return 412
    if conditions.if_none_match is not None:
        if none_match(conditions.if_none_match, etag):
            return 304
    elif conditions.if_modified_since is not None:
        since = parse_date(conditions.if_modified_since)
        if since is not None and seconds <= since:
            return 304
    return None


def if_range_allows(if_range: str | None, etag: str, mtime: float) -> bool:
    """Whether a Range may be honoured: no If-Range, or it names the current representation
    (a strong ETag that matches exactly, or exactly the Last-Modified date)."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value.startswith('"') or value.startswith("W/"):
        return value == etag
    since = parse_date(value)
    return since is not None and int(mtime) == since
