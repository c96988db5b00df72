"""CORS: which other origins' scripts may read the app's responses.

``app.middleware(CORS(allow_origins=["https://app.example.com"], allow_credentials=True))``.
A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here: 204
with the grants when the origin, the method and every requested header are allowed, else a
403 saying which was not. An actual request gets Access-Control-Allow-Origin when its
origin is allowed (the browser then lets the page read the response). Responses that depend
on Origin say ``Vary: Origin``; ``*`` is never sent with credentials, and asking for both is
an error when the middleware is made.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable

from porch.request import Request
from porch.response import PlainTextResponse, Response, add_vary

__all__ = ["CORS"]

Next = Callable[[Request], Awaitable[Response]]
# Headers a page may always send cross-origin (the Fetch standard's CORS-safelisted ones).
_SAFELISTED = frozenset(("accept", "accept-language", "content-language", "content-type"))


class CORS:
    """Cross-origin grants. `allow_origins` are exact origins (``https://example.com``) or
    ``"*"``; `allow_origin_regex` matches whole origins. `allow_headers` ``["*"]`` allows any
    request header. `max_age` is how long browsers may reuse a preflight's answer."""

    def __init__(
        self,
        allow_origins: Iterable[str] = (),
        *,
        allow_origin_regex: str | None = None,
        allow_methods: Iterable[str] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"),
        allow_headers: Iterable[str] = (),
        allow_credentials: bool = False,
        expose_headers: Iterable[str] = (),
        max_age: int = 600,
    ) -> None:
        origins = [origin.rstrip("/") for origin in allow_origins]
        self.any_origin = "*" in origins
        if self.any_origin and allow_credentials:
            raise ValueError(
                "CORS: allow_origins=['*'] with allow_credentials=True would let every site "
                "read your users' data; list the origins (or use allow_origin_regex)"
            )
        self.origins = frozenset(origin.lower() for origin in origins if origin != "*")
        self.regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        self.methods = [method.upper() for method in allow_methods]
        headers = [header.lower() for header in allow_headers]
        self.any_header = "*" in headers
        self.headers = frozenset(headers) | _SAFELISTED
        self.credentials = allow_credentials
        self.expose = ", ".join(expose_headers)
        self.max_age = max_age

    def allowed(self, origin: str) -> bool:
        if self.any_origin or origin.lower() in self.origins:
            return True
        return self.regex is not None and self.regex.fullmatch(origin) is not None

    async def __call__(self, request: Request, call_next: Next) -> Response:
        headers = request.headers
        origin = headers.get("origin")
        if origin is None:
            return await call_next(request)
        wanted = headers.get("access-control-request-method")
        if request.method == "OPTIONS" and wanted is not None:
            return self.preflight(origin, wanted, headers.get("access-control-request-headers"))
        response = await call_next(request)
        if self.allowed(origin):
            self._grant(response, origin)
            if self.expose:
                response.headers["access-control-expose-headers"] = self.expose
        if not self.any_origin or self.credentials:
            add_vary(response, "Origin")
        return response

    def _grant(self, response: Response, origin: str) -> None:
        wildcard = self.any_origin and not self.credentials
        response.headers["access-control-allow-origin"] = "*" if wildcard else origin
        if self.credentials:
            response.headers["access-control-allow-credentials"] = "true"

    def preflight(self, origin: str, method: str, requested: str | None) -> Response:
        refusal = None
        names = [name.strip().lower() for name in (requested or "").split(",") if name.strip()]
        if not self.allowed(origin):
            refusal = f"CORS preflight refused: origin {origin} is not allowed"
        elif method.upper() not in self.methods:
            refusal = f"CORS preflight refused: method {method} is not allowed"
        elif not self.any_header:
            refused = [name for name in names if name not in self.headers]
            if refused:
                refusal = f"CORS preflight refused: header(s) {', '.join(refused)} not allowed"
        if refusal is not None:
            response: Response = PlainTextResponse(refusal + "\n", 403)
        else:
            response = Response(b"", 204)
            self._grant(response, origin)
            response.headers["access-control-allow-methods"] = ", ".join(self.methods)
            if names:
                response.headers["access-control-allow-headers"] = ", ".join(names)
            response.headers["access-control-max-age"] = str(self.max_age)
        add_vary(
            response, "Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"
        )
        return response
