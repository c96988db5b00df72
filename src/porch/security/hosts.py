"""Trusted hosts: refuse requests whose Host is not one of the app's names.

``app.middleware(TrustedHosts(["example.com", "*.example.com"]))``. Without it, a forged
Host header flows into absolute URLs the app builds (password-reset links, redirects) and
into cache keys. ``*.example.com`` matches subdomains (not example.com itself); ``*``
matches all. The port is ignored. A refusal is a 400 naming the host.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from porch.request import Request
from porch.response import PlainTextResponse, Response

__all__ = ["TrustedHosts"]

Next = Callable[[Request], Awaitable[Response]]


def _hostname(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("["):  # an IPv6 literal: [::1]:8000
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class TrustedHosts:
    def __init__(self, allowed_hosts: Iterable[str]) -> None:
        hosts = [host.strip().lower().rstrip(".") for host in allowed_hosts]
        if not hosts:
            raise ValueError("TrustedHosts needs at least one host (or '*')")
        self.any = "*" in hosts
        self.exact = frozenset(h for h in hosts if not h.startswith("*."))
        self.suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))

    def allowed(self, host: str) -> bool:
        name = _hostname(host)
        return self.any or name in self.exact or (bool(name) and name.endswith(self.suffixes))

    async def __call__(self, request: Request, call_next: Next) -> Response:
        host = request.host.decode("latin-1") if request.host else ""
        if not self.any and not self.allowed(host):
            shown = host or "(none)"
            return PlainTextResponse(f"Invalid Host header {shown!r}: not an allowed host\n", 400)
        return await call_next(request)
