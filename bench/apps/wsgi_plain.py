"""A bare WSGI app (no framework): `Hello, World!` as text/plain, for every path.

The server adds the ``Server`` and ``Date`` headers itself.
"""

from collections.abc import Callable, Iterable
from typing import Any

_BODY = b"Hello, World!"
_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(_BODY)))]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", _HEADERS)
    return [_BODY]
