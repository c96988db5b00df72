"""Passwords, the logged-in user, and `login_required`.

Passwords are hashed with argon2id (argon2-cffi's defaults, the OWASP recommendation); a
hash takes tens of milliseconds of CPU on purpose, so it runs in a worker thread and the
event loop keeps serving other requests meanwhile. The session keeps only the user's id and
name; `log_in` regenerates it (a new session id and CSRF secret: no session fixation).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from examples.showcase.models import USERNAME_LENGTH, User
from porch import RedirectResponse, Request
from porch.web.chain import wrap_handler

F = TypeVar("F", bound=Callable[..., Any])
Invoker = Callable[[Request, dict[str, Any]], Awaitable[Any]]

USERNAME = re.compile(rf"[A-Za-z0-9_-]{{3,{USERNAME_LENGTH}}}")
PASSWORD_MIN, PASSWORD_MAX = 8, 200  # the upper bound keeps hashing time bounded

_hasher = PasswordHasher()
# Verified when a username is unknown, so that "no such user" takes as long as "wrong
# password" and the timing does not tell which usernames exist.
_DUMMY_HASH = _hasher.hash("not a password anyone has")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def check_password(stored_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def new_api_token() -> str:
    return secrets.token_urlsafe(32)


async def create_user(db: AsyncSession, username: str, password: str) -> User:
    user = User(
        username=username, password_hash=await hash_password(password), api_token=new_api_token()
    )
    db.add(user)
    await db.flush()  # the id
    return user


async def authenticate(db: AsyncSession, username: str, password: str) -> User | None:
    """The user with this name and password, or None (in the same time either way)."""
    user = await db.scalar(select(User).where(User.username == username))
    ok = await check_password(user.password_hash if user else None, password)
    return user if ok else None


def log_in(request: Request, user: User) -> None:
    session = request.session
    session.clear()  # nothing of the anonymous visit carries over...
    session.regenerate()  # ...not even its id: a new session id and CSRF secret
    session["user_id"] = user.id
    session["username"] = user.username


def log_out(request: Request) -> None:
    request.session.clear()


def current_user_id(request: Request) -> int | None:
    value = request.session.get("user_id")
    return value if isinstance(value, int) else None


async def current_user(request: Request, db: AsyncSession) -> User | None:
    user_id = current_user_id(request)
    return await db.get(User, user_id) if user_id is not None else None


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (no open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def login_required(func: F) -> F:
    """Send visitors who are not logged in to the login page, which brings them back.

    A GET comes back to the same URL after the login; a form post (whose data cannot be
    replayed) comes back to the home page."""

    def wrap(invoker: Invoker) -> Invoker:
        async def call(request: Request, params: dict[str, Any]) -> Any:
            if current_user_id(request) is not None:
                return await invoker(request, params)
            if request.method == "GET":
                back = request.raw_path.decode("ascii")
                if request.query_string:
                    back += "?" + request.query_string.decode("ascii")
            else:
                back = "/"
            return RedirectResponse(f"/login?next={quote(safe_next(back), safe='/')}", 303)

        return call

    return wrap_handler(func, wrap)
