"""Per-request security state, made only when a request uses the session or a CSRF token.

``request._security`` holds the app's `Guard` until then (one attribute store per request);
the first use swaps in a `RequestContext`, which the guard commits to the response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from itsdangerous import BadSignature

from porch.request import Request
from porch.response import Response, add_vary
from porch.security.csrf import b64, new_secret, unb64
from porch.security.sessions import CookieStore, Session

if TYPE_CHECKING:
    from porch.security.guard import Guard

__all__ = ["RequestContext", "context", "personalized"]


class RequestContext:
    __slots__ = ("guard", "request", "loaded", "_csrf", "_csrf_new")

    def __init__(self, guard: Guard, request: Request) -> None:
        self.guard = guard
        self.request = request
        self.loaded: Session | None = None
        self._csrf: bytes | None = None
        self._csrf_new = False

    def session(self) -> Session:
        session = self.loaded
        if session is None:
            store = self.guard.store
            if store is None:
                raise RuntimeError("sessions are off for this app (App(sessions=False))")
            if isinstance(store, CookieStore):
                session = store.load(self.request)
            else:
                # Server-side sessions are loaded by the guard before the handler runs (they
                # need an await); reaching here means the request had no session cookie.
                session = Session()
            self.loaded = session
        return session

    def cookie_secret(self) -> bytes | None:
        """The CSRF secret from the request's cookie, or None when absent or forged."""
        guard = self.guard
        raw = self.request.cookies.get(guard.csrf_settings.cookie_name)
        if not raw:
            return None
        try:
            value = guard.csrf_serializer.loads(raw)
        except BadSignature:
            return None
        try:
            secret = unb64(value) if isinstance(value, str) else b""
        except ValueError:
            return None
        return secret if len(secret) == 32 else None

    def csrf_secret(self) -> bytes:
        secret = self._csrf
        if secret is None:
            secret = self.cookie_secret()
            if secret is None:
                secret, self._csrf_new = new_secret(), True
            self._csrf = secret
        return secret

    def rotate_csrf(self) -> None:
        self._csrf, self._csrf_new = new_secret(), True

    async def commit(self, response: Response) -> None:
        guard, request = self.guard, self.request
        session = self.loaded
        if session is not None:
            add_vary(response, "Cookie")
            if session.regenerated and guard.csrf_settings is not None:
                self.rotate_csrf()
            if session.modified and guard.store is not None:
                await guard.store.save(request, response, session)
        if self._csrf is not None:
            add_vary(response, "Cookie")  # the page holds this visitor's token
        if self._csrf_new and self._csrf is not None:
            settings = guard.csrf_settings
            response.set_cookie(
                settings.cookie_name,
                guard.csrf_serializer.dumps(b64(self._csrf)),
                max_age=settings.cookie_max_age,
                path=settings.cookie_path,
                domain=settings.cookie_domain,
                secure=(
                    request.scheme == "https"
                    if settings.cookie_secure is None
                    else settings.cookie_secure
                ),
                httponly=True,
                samesite=settings.cookie_samesite,
            )


def context(request: Request) -> RequestContext:
    """The request's security context (made on first use)."""
    holder = request._security
    if type(holder) is RequestContext:
        return holder
    if holder is None:
        raise RuntimeError(
            "request.session and csrf_token() need a request handled by a porch.App "
            "with sessions or CSRF on"
        )
    made = request._security = RequestContext(holder, request)
    return made


def personalized(request: Request) -> bool:
    """True when the request used its session or rendered a CSRF token: its response is one
    visitor's (it varies on Cookie) and must never be stored in a shared cache."""
    holder = request._security
    return type(holder) is RequestContext and (
        holder.loaded is not None or holder._csrf is not None
    )
