"""Trusted hosts: refuse requests whose Host is not one of the app's names.

``app.middleware(TrustedHosts(["example.com", "*.example.com"]))``. Without it, a forged
Host header flows into absolute URLs the app builds (password-reset links, redirects) and
into cache keys. ``*.example.com`` matches subdomains (not example.com itself); ``*``
matches all. The port, the case and a trailing dot are ignored; an IPv6 address is
written with or without its brackets. A refusal is a 400 naming the host.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from porch.request import Request
from porch.response import PlainTextResponse, Response

__all__ = ["TrustedHosts"]

Next = Callable[[Request], Awaitable[Response]]


def _hostname(host: str) -> str:
    """The name without its port, lowercased, without the trailing dot of its fully
    qualified form (``Example.com.:8000`` is ``example.com``)."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal: [::1]:8000
        return host.partition("]")[0] + "]"
    if host.count(":") == 1:
        host = host.rpartition(":")[0]
    return host.rstrip(".")


def _allowed_name(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return f"[{host}]" if host.count(":") > 1 and not host.startswith("[") else host  # ::1


class TrustedHosts:
    def __init__(self, allowed_hosts: Iterable[str]) -> None:
        hosts = [_allowed_name(host) for host in allowed_hosts]
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
