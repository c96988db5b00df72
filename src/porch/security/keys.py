"""Secret keys: where they come from, rotation, and the production rule.

``App(secret_key=...)`` or ``PORCH_SECRET_KEY`` gives one key or several (a list, or
comma-separated text): the FIRST signs, every one verifies, so a new key goes first and the
old one stays behind it until the cookies it signed have expired.

In production (``porch serve`` without --reload, or ``PORCH_ENV=production``) an app whose
sessions or CSRF protection sign with a key and that has none fails to start with one line
saying so. In development a random key is made per process, with a warning: sessions then
end when the process does.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping, Sequence

from itsdangerous import URLSafeTimedSerializer

from porch.errors import ConfigError

__all__ = ["KeyRing", "MIN_KEY_LENGTH", "resolve_keys"]

logger = logging.getLogger("porch.security")

ENV_KEY = "PORCH_SECRET_KEY"
MIN_KEY_LENGTH = 16
_process_key: str | None = None


def _development_key() -> str:
    global _process_key
    if _process_key is None:
        _process_key = secrets.token_urlsafe(32)
    return _process_key


class KeyRing:
    """The keys in order (the first signs) and serializers made from them."""

    def __init__(self, keys: Sequence[str | bytes], generated: bool = False) -> None:
        if not keys:
            raise ValueError("a KeyRing needs at least one key")
        self.keys = list(keys)
        self.generated = generated

    def serializer(self, salt: str, *, current_only: bool = False) -> URLSafeTimedSerializer:
        """A timed serializer for `salt`; itsdangerous signs with the LAST key of its list,
        so the ring is passed reversed. `current_only` verifies with the signing key alone
        (to tell a cookie signed with an older key, which is then signed again)."""
        ordered = self.keys[:1] if current_only else list(reversed(self.keys))
        keys = [key.encode() if isinstance(key, str) else key for key in ordered]
        return URLSafeTimedSerializer(keys, salt=salt)


def parse_keys(value: str | bytes | Sequence[str | bytes] | None) -> list[str | bytes]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, bytes):
        return [value]
    return [key for key in value if key]


def resolve_keys(
    explicit: str | bytes | Sequence[str | bytes] | None,
    env: str,
    environ: Mapping[str, str] | None = None,
) -> KeyRing:
    """The app's keys: `explicit`, else ``PORCH_SECRET_KEY``; none in production is a
    `ConfigError`, none in development a random per-process key (with a warning)."""
    environ = os.environ if environ is None else environ
    keys = parse_keys(explicit) or parse_keys(environ.get(ENV_KEY))
    for key in keys:
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(
                f"a secret key of {len(key)} characters is too short to sign with (at least "
                f"{MIN_KEY_LENGTH}); make one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'"
            )
    if keys:
        return KeyRing(keys)
    if env == "production":
        raise ConfigError(
            f"no secret key in production: set {ENV_KEY} (or App(secret_key=...)); sessions "
            "and CSRF sign with it (or App(sessions=False, csrf=False) to turn both off)"
        )
    logger.warning(
        "No secret key (%s): using a random one for this process; sessions and CSRF "
        "tokens will not survive a restart (development only: production refuses to start)",
        ENV_KEY,
    )
    return KeyRing([_development_key()], generated=True)


def current_env(environ: Mapping[str, str] | None = None) -> str:
    """``PORCH_ENV`` (development or production); development when unset, as for the test
    client and ``app.run()`` (``porch serve`` passes its own, production by default)."""
    environ = os.environ if environ is None else environ
    value = environ.get("PORCH_ENV", "development").strip().lower() or "development"
    if value not in ("development", "production"):
        raise ConfigError(f"PORCH_ENV must be development or production, not {value!r}")
    return value
