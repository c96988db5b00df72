"""Database URLs: where the URL comes from, and which driver runs it.

porch runs SQLite on aiosqlite and PostgreSQL on asyncpg; sync handlers' sessions use the
standard library's sqlite3 and psycopg 3 on the same database. A URL may name either kind of
driver, or none (``postgresql://``, ``sqlite:///app.db``): it is mapped to both. Anything else
is refused with one line that says what is accepted.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from porch.errors import ConfigError

__all__ = ["ENV_VAR", "Target", "resolve", "shown"]

ENV_VAR = "PORCH_DATABASE_URL"
_ASYNC = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
_SYNC = {"sqlite": "pysqlite", "postgresql": "psycopg"}
# Drivers a URL may name: each is replaced by porch's async and sync driver of that database.
_KNOWN = {
    "sqlite": {"", "aiosqlite", "pysqlite"},
    "postgresql": {"", "asyncpg", "psycopg", "psycopg2", "psycopg_async"},
}
_ALIASES = {"postgres": "postgresql"}
_PASSWORD = re.compile(r"(://[^:/@]*):[^@/]*@")


class Target:
    """One database as porch reaches it: the async URL, the sync URL and its kind."""

    __slots__ = ("async_url", "kind", "sync_url")

    def __init__(self, async_url: URL, sync_url: URL, kind: str) -> None:
        self.async_url = async_url
        self.sync_url = sync_url
        self.kind = kind

    @property
    def is_sqlite(self) -> bool:
        return self.kind == "sqlite"

    @property
    def in_memory(self) -> bool:
        return self.is_sqlite and self.async_url.database in (None, "", ":memory:")

    def where(self) -> str:
        """Where the database is, for error messages (never the password)."""
        url = self.async_url
        if self.is_sqlite:
            return f"SQLite file {url.database}" if not self.in_memory else "SQLite in memory"
        return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def shown(text: str) -> str:
    """A URL with its password masked."""
    return _PASSWORD.sub(r"\1:***@", text)


def resolve(url: str | URL | None, root: Path) -> Target:
    """The database named by `url`, else ``$PORCH_DATABASE_URL``, else the SQLite file
    ``porch.db`` in `root`. A relative SQLite path is taken from `root` too (the project's
    folder), so the app and ``porch db`` find the same file whatever the current folder."""
    text = url if url is not None else os.environ.get(ENV_VAR) or f"sqlite:///{root / 'porch.db'}"
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise ConfigError(
            f"database URL {shown(str(text))!r} is malformed: expected "
            "postgresql://user:password@host:port/database or sqlite:///path/to/file.db"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    backend = _ALIASES.get(backend, backend)
    if backend not in _ASYNC:
        raise ConfigError(
            f"database URL {shown(str(text))!r}: porch supports sqlite:// and postgresql:// "
            f"databases, not {backend!r}"
        )
    if driver not in _KNOWN[backend]:
        raise ConfigError(
            f"database URL {shown(str(text))!r}: unknown driver {driver!r} for {backend}; "
            f"write {backend}:// (porch uses {backend}+{_ASYNC[backend]})"
        )
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute():
            parsed = parsed.set(database=str(root / path))
    return Target(
        parsed.set(drivername=f"{backend}+{_ASYNC[backend]}"),
        parsed.set(drivername=f"{backend}+{_SYNC[backend]}"),
        backend,
    )
