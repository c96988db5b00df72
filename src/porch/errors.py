"""porch's exceptions.

The hierarchy::

    PorchError
    ├── HTTPError                 an HTTP status to send; raise it from a handler
    │   └── ProtocolError         the peer broke HTTP/1.1; the connection closes after the reply
    ├── ClientDisconnected        the client went away while the app was reading the body
    ├── ResponseError             the app built a response that cannot be sent (bad header, ...)
    └── ConfigError               a setting is invalid; raised before anything is served

`HTTPError.status` is what the client gets. `ProtocolError` adds `blame`: ``"client"`` when the
bytes received were at fault, ``"server"`` when porch (or the app) produced something invalid.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = [
    "ClientDisconnected",
    "ConfigError",
    "HTTPError",
    "HTTPException",
    "PorchError",
    "ProtocolError",
    "ResponseError",
    "abort",
]


class PorchError(Exception):
    """Base class of every error porch raises on purpose."""


class HTTPError(PorchError):
    """An HTTP error status with a message a person can act on.

    Raised anywhere below a handler, it becomes a plain-text response with `status` and
    `detail` as the body; `headers` are added to that response (for example ``Allow`` on 405).
    With `errors` (a list of ``{"loc": [...], "msg": ...}``), the framework answers JSON
    ``{"detail": errors}`` instead.
    """

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        if detail is None:
            try:
                detail = HTTPStatus(status).phrase
            except ValueError:
                detail = "Error"
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        # Field errors of a validation failure (a 422 renders them as JSON "detail").
        self.errors = errors

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.detail!r})"


HTTPException = HTTPError  # the name Starlette and FastAPI users know


def abort(status: int, detail: str | None = None, headers: dict[str, str] | None = None) -> None:
    """Stop handling the request and answer `status` (Flask's ``abort``)."""
    raise HTTPError(status, detail, headers)


class ProtocolError(HTTPError):
    """The HTTP/1.1 exchange cannot go on; the connection is closed after the error reply."""

    def __init__(self, status: int, detail: str, *, blame: str = "client") -> None:
        super().__init__(status, detail)
        self.blame = blame


class ClientDisconnected(PorchError, OSError):
    """The client closed the connection: the request body cannot be completed, or the response
    cannot be delivered. An `OSError`, as the ASGI and WSGI specifications expect."""


class ResponseError(PorchError, ValueError):
    """The app produced a response that cannot be sent as it is (e.g. CR/LF in a header)."""


class ConfigError(PorchError, ValueError):
    """A configuration value is invalid."""
