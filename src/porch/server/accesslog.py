"""The access log: one line per response in the combined log format, on ``porch.access``."""

from __future__ import annotations

import logging
import time

from porch.request import Request

__all__ = ["escape", "log_access", "logger"]

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


def log_access(request: Request, status: int, size: int) -> None:
    client = request.client
    host = client[0] if client else "-"
    target = request.raw_path
    if request.query_string:
        target += b"?" + request.query_string
    headers = request.headers
    logger.info(
        '%s - - [%s] "%s %s HTTP/%s" %d %d "%s" "%s"',
        host,
        time.strftime("%d/%b/%Y:%H:%M:%S %z"),
        request.method,
        escape(target),
        request.http_version,
        status,
        size,
        escape(headers.get("referer", "-")),
        escape(headers.get("user-agent", "-")),
    )
