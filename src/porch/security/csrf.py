"""CSRF protection, on by default in `porch.App`.

An unsafe request (POST, PUT, PATCH, DELETE, ...) that carries cookies must show that it
came from the app's own pages, two ways:

1. its ``Origin`` (or, without one, its ``Referer``) is the request's own origin
   (``scheme://host``) or one of `CSRF.trusted_origins` (``https://*.example.com`` allowed);
   on HTTPS a request with neither header is refused, as Django does;
2. it carries the token: a form field ``csrf_token`` or a header ``X-CSRF-Token`` (also
   ``X-CSRFToken``) whose value came from `csrf_token(request)`.

The token's secret is 32 random bytes in its own cookie (``porch_csrf``), signed with the
app's key; `csrf_token()` returns it masked with fresh random bytes on every call (as Django
does), so a compressed page never repeats a secret byte string (BREACH). A request without
cookies has no ambient authority to abuse and passes: JSON API clients are unaffected.

Exempt a route with ``@csrf_exempt``, a blueprint with ``Blueprint(..., csrf=False)``, the
whole app with ``App(csrf=False)``. A refusal is a 403 whose body says what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from porch.errors import HTTPError
from porch.request import Request

__all__ = ["CSRF", "CSRFError", "csrf_exempt", "csrf_token"]

F = TypeVar("F", bound=Callable[..., Any])

SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))
SECRET_BYTES = 32
EXEMPT = "__porch_csrf_exempt__"
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class CSRFError(HTTPError):
    """A 403 refusing a request that failed the CSRF check; `detail` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(403, f"CSRF check failed: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class CSRF:
    """CSRF settings: ``App(csrf=CSRF(trusted_origins=["https://admin.example.com"]))``."""

    trusted_origins: tuple[str, ...] = ()
    field_name: str = "csrf_token"
    header_names: tuple[str, ...] = ("x-csrf-token", "x-csrftoken")
    cookie_name: str = "porch_csrf"
    cookie_max_age: int = 365 * 24 * 3600
    cookie_path: str = "/"
    cookie_domain: str | None = None
    cookie_secure: bool | None = None  # None: Secure when the request is HTTPS
    cookie_samesite: str | None = "lax"

    def __post_init__(self) -> None:
        object.__setattr__(self, "trusted_origins", tuple(self.trusted_origins))
        object.__setattr__(self, "header_names", tuple(h.lower() for h in self.header_names))
        for origin in self.trusted_origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ValueError(
                    f"trusted origin {origin!r} must be scheme://host[:port], "
                    "e.g. https://example.com or https://*.example.com"
                )

    def origin_trusted(self, origin: str) -> bool:
        for trusted in self.trusted_origins:
            if "*." in trusted:
                scheme, _, pattern = trusted.partition("://*.")
                if origin.startswith(scheme + "://") and origin.endswith("." + pattern):
                    return True
            elif _normal(trusted) == origin:
                return True
        return False


def csrf_exempt(func: F) -> F:
    """Mark a handler as exempt from CSRF checks (a webhook that authenticates otherwise)."""
    setattr(func, EXEMPT, True)
    return func


def csrf_token(request: Request) -> str:
    """The CSRF token to put in a form (``<input type="hidden" name="csrf_token" ...>``) or
    an ``X-CSRF-Token`` header: a fresh masking of the visitor's secret on every call; the
    first call for a new visitor sets the secret's cookie on the response."""
    from porch.security.context import context

    return mask(context(request).csrf_secret())


# tokens ---------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def mask(secret: bytes) -> str:
    pad = secrets.token_bytes(SECRET_BYTES)
    return b64(pad + bytes(a ^ b for a, b in zip(secret, pad, strict=True)))


def unmask(token: str) -> bytes | None:
    try:
        raw = unb64(token)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 2 * SECRET_BYTES:
        return None
    pad, masked = raw[:SECRET_BYTES], raw[SECRET_BYTES:]
    return bytes(a ^ b for a, b in zip(masked, pad, strict=True))


# the check ------------------------------------------------------------------------------------


def _normal(origin: str) -> str:
    origin = origin.strip().lower().rstrip("/")
    scheme = origin.partition("://")[0]
    default = _DEFAULT_PORTS.get(scheme)
    if default and origin.endswith(default):
        origin = origin[: -len(default)]
    return origin


def request_origin(request: Request) -> str:
    host = request.host.decode("latin-1") if request.host else ""
    return _normal(f"{request.scheme}://{host}")


def check_origin(request: Request, settings: CSRF) -> None:
    """Raise `CSRFError` when Origin (or Referer) names another origin."""
    headers = request.headers
    expected = request_origin(request)
    origin = headers.get("origin")
    if origin is not None:
        if origin.strip() == "null":
            raise CSRFError("Origin null (a sandboxed or privacy-redirected page) is not trusted")
        seen = _normal(origin)
        if seen != expected and not settings.origin_trusted(seen):
            raise CSRFError(
                f"Origin {origin.strip()} does not match {expected} nor a trusted origin"
            )
        return
    referer = headers.get("referer")
    if referer is None:
        if request.scheme == "https":
            raise CSRFError("the request has neither Origin nor Referer (required over HTTPS)")
        return
    parts = urlsplit(referer.strip())
    seen = _normal(f"{parts.scheme}://{parts.netloc}")
    if seen != expected and not settings.origin_trusted(seen):
        raise CSRFError(f"Referer {seen} does not match {expected} nor a trusted origin")


async def submitted_token(request: Request, settings: CSRF) -> str | None:
    headers = request.headers
    for name in settings.header_names:
        value = headers.get(name)
        if value:
            return value.strip()
    if request.content_type.startswith(_FORM_TYPES):
        try:
            form = await request.form()
        except HTTPError as exc:
            if exc.status != 413:
                raise
            raise HTTPError(
                413,
                f"{exc.detail} (while reading the form for its CSRF token, with the default "
                "limits: to allow more, read the form with your limits in a before_request "
                "hook, or send the token in an X-CSRF-Token header)",
            ) from None
        field = form.get(settings.field_name)
        if isinstance(field, str) and field:
            return field
    return None


async def check_token(request: Request, settings: CSRF, secret: bytes | None) -> None:
    token = await submitted_token(request, settings)
    if token is None:
        raise CSRFError(
            f"CSRF token missing: send the {settings.field_name!r} form field or an "
            "X-CSRF-Token header with the value of csrf_token(request)"
        )
    if secret is None:
        raise CSRFError(
            f"CSRF cookie {settings.cookie_name!r} missing or invalid: load the page with "
            "the form again (cookies must be enabled)"
        )
    unmasked = unmask(token)
    if unmasked is None or not hmac.compare_digest(unmasked, secret):
        raise CSRFError("CSRF token incorrect: it does not belong to this visitor's secret")


def exempt_any(items: Iterable[object]) -> bool:
    return any(
        getattr(item, EXEMPT, False) or getattr(item, "csrf", True) is False for item in items
    )
