"""Security headers, as Django's SecurityMiddleware (and clickjacking middleware) set them.

``app.middleware(SecurityHeaders(hsts_seconds=31536000))``. Off until added (a porch app is
often an API behind a proxy that sets these); once added the defaults are Django's: nosniff,
``Referrer-Policy: same-origin``, ``Cross-Origin-Opener-Policy: same-origin``,
``X-Frame-Options: DENY``; HSTS only when `hsts_seconds` is set and only on HTTPS responses
(a browser ignores it over HTTP, and a wrong one locks users out for its whole max-age);
a Content-Security-Policy when given (text, or a function of the request for nonces).
A header the handler set itself is kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from porch.request import Request
from porch.response import Response

__all__ = ["SecurityHeaders"]

Next = Callable[[Request], Awaitable[Response]]


class SecurityHeaders:
    def __init__(
        self,
        *,
        hsts_seconds: int = 0,
        hsts_include_subdomains: bool = False,
        hsts_preload: bool = False,
        content_type_nosniff: bool = True,
        frame_options: str | None = "DENY",
        referrer_policy: str | None = "same-origin",
        cross_origin_opener_policy: str | None = "same-origin",
        content_security_policy: str | Callable[[Request], str | None] | None = None,
        csp_report_only: bool = False,
    ) -> None:
        if frame_options is not None and frame_options.upper() not in ("DENY", "SAMEORIGIN"):
            raise ValueError(
                "frame_options must be DENY, SAMEORIGIN or None (use CSP "
                "frame-ancestors to allow other origins)"
            )
        fixed: list[tuple[str, str]] = []
        if content_type_nosniff:
            fixed.append(("x-content-type-options", "nosniff"))
        if frame_options is not None:
            fixed.append(("x-frame-options", frame_options.upper()))
        if referrer_policy is not None:
            fixed.append(("referrer-policy", referrer_policy))
        if cross_origin_opener_policy is not None:
            fixed.append(("cross-origin-opener-policy", cross_origin_opener_policy))
        self.fixed = fixed
        hsts = None
        if hsts_seconds > 0:
            hsts = f"max-age={hsts_seconds}"
            if hsts_include_subdomains:
                hsts += "; includeSubDomains"
            if hsts_preload:
                hsts += "; preload"
        self.hsts = hsts
        self.csp = content_security_policy
        self.csp_header = (
            "content-security-policy-report-only" if csp_report_only else "content-security-policy"
        )

    async def __call__(self, request: Request, call_next: Next) -> Response:
        response = await call_next(request)
        headers = response.headers
        for name, value in self.fixed:
            headers.setdefault(name, value)
        if self.hsts is not None and request.scheme == "https":
            headers.setdefault("strict-transport-security", self.hsts)
        csp = self.csp
        if csp is not None:
            policy = csp(request) if callable(csp) else csp
            if policy:
                headers.setdefault(self.csp_header, policy)
        return response
