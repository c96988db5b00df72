"""Sessions: a dict per visitor, kept in a signed cookie or server-side under a random id.

``App(sessions=Sessions(...))`` (on by default, in a signed cookie). ``request.session`` is
loaded on first use: a request that never touches it costs nothing and sets no cookie. A
changed session is written back with the response, which then carries ``Vary: Cookie`` (as
does every response whose request read the session), so that no shared cache hands one
visitor's page to another.

- ``store="cookie"``: the data itself, JSON, signed with the app's key (itsdangerous) and
  timestamped: a cookie that was tampered with or is older than `max_age` reads as an empty
  session; one signed with an older key of the ring is valid and signed again with the
  current key. Browsers keep about 4 KB per cookie: a bigger session is an error when it is
  written, naming its size.
- ``store="memory"`` (in-process, bounded, expiring), ``"redis"`` (``PORCH_REDIS_URL``) or
  any `porch.cache.Cache`: the cookie holds a random id (256 bits); the data stays on the
  server. An id the server does not know is never adopted (no session fixation), and
  `Session.regenerate()` moves the data to a new id (call it when a user logs in).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, SignatureExpired

from porch.cache.base import Cache
from porch.request import Request
from porch.response import Response

if TYPE_CHECKING:
    from porch.security.keys import KeyRing

__all__ = ["Session", "SessionTooLarge", "Sessions", "session_used"]

logger = logging.getLogger("porch.security")

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")


class SessionTooLarge(ValueError):
    """The session does not fit the cookie that carries it."""


class Session(dict[str, Any]):
    """A dict that knows whether it changed. Changing a value in place (``session["cart"]
    .append(x)``) is not seen: assign it again, or set ``session.modified = True``."""

    def __init__(self, data: dict[str, Any] | None = None, sid: str | None = None) -> None:
        super().__init__(data or {})
        self.sid = sid
        self.modified = False
        self.regenerated = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def clear(self) -> None:
        self.modified = True
        super().clear()

    def pop(self, key: str, *default: Any) -> Any:
        self.modified = self.modified or key in self
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        self.modified = True
        return super().popitem()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.modified = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.modified = True
        super().update(*args, **kwargs)

    def regenerate(self) -> None:
        """Give the session a new id, keeping its data (against session fixation: call it
        on login and on any change of privilege). Also renews the CSRF secret."""
        self.regenerated = True
        self.modified = True


@dataclass(frozen=True)
class Sessions:
    """How sessions are kept: ``App(sessions=Sessions(store="redis", max_age=3600))``.

    `store` is "cookie" (default), "memory", "redis" (`redis_url` or ``PORCH_REDIS_URL``) or
    a `porch.cache.Cache`. `secure` None marks the cookie Secure when the request came over
    HTTPS (``request.scheme``, which honours trusted proxies' forwarded headers).
    """

    store: str | Cache = "cookie"
    cookie_name: str = "porch_session"
    max_age: int = 14 * 24 * 3600
    path: str = "/"
    domain: str | None = None
    secure: bool | None = None
    httponly: bool = True
    samesite: str | None = "lax"
    max_cookie_size: int = 4093
    redis_url: str | None = None
    memory_max_entries: int = 100_000

    def __post_init__(self) -> None:
        if isinstance(self.store, str) and self.store not in ("cookie", "memory", "redis"):
            raise ValueError(
                f"Sessions.store must be cookie, memory, redis or a Cache, not {self.store!r}"
            )
        if self.max_age <= 0:
            raise ValueError(f"Sessions.max_age must be positive seconds; got {self.max_age}")

    def set_cookie(self, request: Request, response: Response, name: str, value: str) -> None:
        response.set_cookie(
            name,
            value,
            max_age=self.max_age,
            path=self.path,
            domain=self.domain,
            secure=request.scheme == "https" if self.secure is None else self.secure,
            httponly=self.httponly,
            samesite=self.samesite,
        )


def session_used(request: Request) -> bool:
    """True when the request's session was read or written (its response varies on the
    Cookie header)."""
    from porch.security.context import RequestContext

    holder = request._security
    return type(holder) is RequestContext and holder.loaded is not None


class CookieStore:
    """The session's data in the cookie, signed and timestamped."""

    server_side = False

    def __init__(self, config: Sessions, keys: KeyRing) -> None:
        self.config = config
        self.all_keys = keys.serializer("porch.session")
        self.current_key = keys.serializer("porch.session", current_only=True)

    def load(self, request: Request) -> Session:
        raw = request.cookies.get(self.config.cookie_name)
        if not raw:
            return Session()
        max_age = self.config.max_age
        try:
            data = self.current_key.loads(raw, max_age=max_age)
            resign = False
        except SignatureExpired:
            logger.debug("Session cookie expired: starting an empty session")
            return Session()
        except BadSignature:
            try:
                data = self.all_keys.loads(raw, max_age=max_age)
            except SignatureExpired:
                logger.debug("Session cookie expired: starting an empty session")
                return Session()
            except BadSignature:
                logger.info(
                    "Rejected a session cookie with a bad signature (tampered with, or signed "
                    "with a key no longer configured): starting an empty session"
                )
                return Session()
            resign = True  # valid under an older key: sign it again with the current one
        session = Session(data if isinstance(data, dict) else {})
        session.modified = resign
        return session

    async def save(self, request: Request, response: Response, session: Session) -> None:
        name = self.config.cookie_name
        if not session:
            if name in request.cookies:
                response.delete_cookie(name, path=self.config.path, domain=self.config.domain)
            return
        value = self.current_key.dumps(dict(session))
        size = len(name) + 1 + len(value)
        if size > self.config.max_cookie_size:
            raise SessionTooLarge(
                f"the session cookie would be {size} bytes, over the "
                f"{self.config.max_cookie_size}-byte limit browsers keep: store less in the "
                "session, or keep it server-side (App(sessions='memory' or 'redis'))"
            )
        self.config.set_cookie(request, response, name, value)


class ServerStore:
    """The session's data in a cache (memory or Redis) under a random id the cookie holds."""

    server_side = True

    def __init__(self, config: Sessions, cache: Cache) -> None:
        self.config = config
        self.cache = cache

    def session_id(self, request: Request) -> str | None:
        raw = request.cookies.get(self.config.cookie_name)
        return raw if raw and _SESSION_ID.fullmatch(raw) else None

    async def load(self, request: Request) -> Session:
        sid = self.session_id(request)
        if sid is None:
            return Session()
        data = await self.cache.get("session:" + sid)
        if not isinstance(data, dict):
            logger.debug("Unknown or expired session id: starting an empty session")
            return Session()
        return Session(data, sid)

    async def save(self, request: Request, response: Response, session: Session) -> None:
        name, sid = self.config.cookie_name, session.sid
        if not session:
            if sid is not None:
                await self.cache.delete("session:" + sid)
            if name in request.cookies:
                response.delete_cookie(name, path=self.config.path, domain=self.config.domain)
            return
        if sid is None or session.regenerated:
            if sid is not None:
                await self.cache.delete("session:" + sid)
            sid = session.sid = secrets.token_urlsafe(32)
        await self.cache.set("session:" + sid, dict(session), self.config.max_age)
        self.config.set_cookie(request, response, name, sid)


def make_store(config: Sessions, keys: KeyRing) -> CookieStore | ServerStore:
    store = config.store
    if isinstance(store, Cache):
        return ServerStore(config, store)
    if store == "cookie":
        return CookieStore(config, keys)
    if store == "memory":
        from porch.cache.memory import MemoryCache

        return ServerStore(
            config, MemoryCache(default_ttl=config.max_age, max_entries=config.memory_max_entries)
        )
    from porch.cache.redis import RedisCache, redis_url
    from porch.errors import ConfigError

    url = config.redis_url or redis_url()
    if not url:
        raise ConfigError(
            "Sessions(store='redis') needs a Redis URL: set PORCH_REDIS_URL or redis_url="
        )
    return ServerStore(config, RedisCache(url, prefix="porch:"))
