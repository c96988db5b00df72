"""`Database`: the engines, the pool, sessions per request, and the checks at start-up.

One `Database` per app: ``db = Database()`` next to the app, ``db.init_app(app)``; handlers
take ``db: porch.db.Session`` (``async def``) or ``db: porch.db.SyncSession`` (``def``). The
session of a request is committed when its handler returns and rolled back when it raises,
before the response leaves. At start-up the database is reached once (an unreachable one
stops the server with one line) and, when the project has migrations, its revision is
compared with theirs.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool, QueuePool, StaticPool

from porch.db.model import Model
from porch.db.urls import Target, resolve
from porch.errors import ConfigError
from porch.request import Request
from porch.web.params import Provider

if TYPE_CHECKING:
    from porch.web.app import App

__all__ = ["Database"]


class Database:
    """An app's database.

    `url`: ``postgresql://user:pw@host/db`` or ``sqlite:///file.db`` (drivers are chosen by
    porch: asyncpg and aiosqlite, psycopg and sqlite3 for sync handlers); when None,
    ``$PORCH_DATABASE_URL``, else the SQLite file ``porch.db`` in `root`. `root` is the
    project's folder: by default the folder of the module that creates the Database. It holds
    the default SQLite file and the ``migrations/`` folder.

    Pool: `pool_size` connections kept open, `max_overflow` more under load (default: 10 on
    PostgreSQL, 0 on SQLite, which has one writer at a time), a request waits
    at most `pool_timeout` seconds for one (then fails with a 500 rather than hang);
    `connect_timeout` bounds reaching the server; `busy_timeout` is how long a SQLite writer
    waits for another one's transaction. `check_migrations`: refuse to start when the
    database is behind the project's migrations (when a ``migrations/`` folder exists).
    """

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        app: App | None = None,
        root: str | Path | None = None,
        metadata: MetaData | None = None,
        pool_size: int = 5,
        max_overflow: int | None = None,
        pool_timeout: float = 30.0,
        pool_recycle: float = 3600.0,
        connect_timeout: float = 10.0,
        busy_timeout: float = 30.0,
        echo: bool = False,
        check_migrations: bool = True,
        migrations: str | Path = "migrations",
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        self.root = Path(root).resolve() if root is not None else _caller_folder()
        self.target: Target = resolve(url, self.root)
        if max_overflow is None:
            # SQLite has one writer at a time: extra connections only add waiters, and a
            # waiter polls (SQLite's busy handler), so more of them means longer waits.
            max_overflow = 0 if self.target.is_sqlite else 10
        if pool_size < 1 or max_overflow < 0 or pool_timeout <= 0 or connect_timeout <= 0:
            raise ConfigError(
                "Database: pool_size must be >= 1, max_overflow >= 0, and pool_timeout and "
                "connect_timeout > 0"
            )
        self.metadata = metadata if metadata is not None else Model.metadata
        self.migrations = self.root / migrations
        self.check_migrations = check_migrations
        self.connect_timeout = connect_timeout
        self.busy_timeout = busy_timeout
        self._pool = {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_timeout": pool_timeout,
            "pool_recycle": pool_recycle,
        }
        self._options = {"echo": echo, **(engine_options or {})}
        self.engine: AsyncEngine = self.make_engine()
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._sync_engine: Engine | None = None
        self._lock = threading.Lock()
        self._sync_sessions: sessionmaker[Session] | None = None
        if app is not None:
            self.init_app(app)

    # engines -----------------------------------------------------------------------------

    @property
    def url(self) -> URL:
        """The async URL (``postgresql+asyncpg://...``, ``sqlite+aiosqlite:///...``)."""
        return self.target.async_url

    @property
    def sync_url(self) -> URL:
        """The same database for sync code (``postgresql+psycopg://...``, ``sqlite:///...``)."""
        return self.target.sync_url

    def make_engine(self, *, pooled: bool = True) -> AsyncEngine:
        """A new async engine on this database (`pooled=False`: one connection per use, for
        commands that run in their own event loop, like the migrations)."""
        try:
            engine = create_async_engine(
                self.url, **self._engine_args(pooled, sync=False), **self._options
            )
        except (NoSuchModuleError, ImportError) as exc:
            raise ConfigError(f"cannot use {self.target.where()}: {exc}") from None
        self._on_connect(engine.sync_engine)
        return engine

    @property
    def sync_engine(self) -> Engine:
        """The engine of sync handlers' sessions, made on first use (psycopg for PostgreSQL,
        sqlite3 for SQLite), with the same pool settings."""
        with self._lock:  # sync handlers' threads may ask for it at the same time
            return self._sync_engine or self._make_sync_engine()

    def _make_sync_engine(self) -> Engine:
        if self._sync_engine is None:
            try:
                engine = create_engine(
                    self.sync_url, **self._engine_args(True, sync=True), **self._options
                )
            except (NoSuchModuleError, ImportError) as exc:
                raise ConfigError(
                    f"cannot use {self.target.where()} from sync code: {exc}"
                ) from None
            self._on_connect(engine)
            self._sync_engine = engine
        return self._sync_engine

    def _engine_args(self, pooled: bool, *, sync: bool) -> dict[str, Any]:
        target = self.target
        args: dict[str, Any] = {"pool_pre_ping": False}
        if target.in_memory:
            # One connection, shared: a second one would see another, empty database.
            args["poolclass"] = StaticPool
            args["connect_args"] = {"check_same_thread": False}
            return args
        args["poolclass"] = (QueuePool if sync else AsyncAdaptedQueuePool) if pooled else NullPool
        if pooled:
            args.update(self._pool)
        if target.is_sqlite:
            args["connect_args"] = {"check_same_thread": False, "timeout": self.busy_timeout}
        elif sync:  # psycopg
            args["connect_args"] = {"connect_timeout": max(1, round(self.connect_timeout))}
        else:  # asyncpg
            args["connect_args"] = {"timeout": self.connect_timeout}
        return args

    def _on_connect(self, engine: Engine) -> None:
        if not self.target.is_sqlite:
            return
        busy_ms = int(self.busy_timeout * 1000)
        in_memory = self.target.in_memory

        def set_pragmas(connection: Any, record: Any) -> None:
            # Per connection: SQLite forgets these when a connection closes. WAL lets readers
            # go on while one writer writes; foreign keys are off unless asked for.
            cursor = connection.cursor()
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.close()

        event.listen(engine, "connect", set_pragmas)

    # sessions ----------------------------------------------------------------------------

    def session(self) -> AsyncSession:
        """A new session, managed by the caller (``async with db.session() as s: ...``)."""
        return self._sessions()

    def sync_session(self) -> Session:
        """A new sync session on `sync_engine`, managed by the caller."""
        sessions = self._sync_sessions
        if sessions is None:
            sessions = self._sync_sessions = sessionmaker(self.sync_engine, expire_on_commit=False)
        return sessions()

    def transaction(self) -> _Transaction:
        """A session committed when the ``async with`` block ends, rolled back when it
        raises, closed either way (``async with db.transaction() as session: ...``)."""
        return _Transaction(self._sessions())

    @contextmanager
    def sync_transaction(self) -> Iterator[Session]:
        """`transaction` for sync code."""
        session = self.sync_session()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        else:
            session.commit()
        finally:
            session.close()

    def _request_session(self, request: Request) -> _Transaction:
        return _Transaction(self._sessions())

    def _request_sync_session(self, request: Request) -> Any:
        return self.sync_transaction()

    # the app -----------------------------------------------------------------------------

    def init_app(self, app: App) -> None:
        """Attach to `app`: handlers' ``porch.db.Session`` / ``SyncSession`` parameters get a
        session per request, the start-up checks run before the server listens, and the
        pool is closed at shut-down. The Database is also ``app.state.db``."""
        app.providers[AsyncSession] = Provider(
            self._request_session,
            None,
            "is a porch.db.Session (async): a plain def handler takes porch.db.SyncSession",
        )
        app.providers[Session] = Provider(
            None,
            self._request_sync_session,
            "is a porch.db.SyncSession, which would block the event loop in an async def "
            "handler: annotate it porch.db.Session",
        )
        setattr(app.state, "db", self)  # noqa: B010 - State is an open namespace
        app.on_startup(self.startup)
        app.on_shutdown(self.dispose)

    async def startup(self) -> None:
        """Reach the database, then compare its revision with the migrations'; either
        failure is a `ConfigError` of one line, which stops the server."""
        await self.check_connection()
        if self.check_migrations:
            from porch.db.migrations import check_revision

            await check_revision(self)

    async def check_connection(self) -> None:
        """Run ``SELECT 1`` within `connect_timeout`; `ConfigError` saying where and why not."""
        if self.target.is_sqlite and not self.target.in_memory:
            # A local file: checked with the standard driver, as aiosqlite leaves its worker
            # thread behind when the first connection fails (a missing folder, permissions).
            try:
                with self.sync_engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
            except SQLAlchemyError as exc:
                raise ConfigError(
                    f"cannot connect to {self.target.where()}: {_reason(exc)}"
                ) from None
            return
        try:
            async with asyncio.timeout(self.connect_timeout):
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except TimeoutError:
            raise ConfigError(
                f"cannot connect to {self.target.where()}: no answer within "
                f"{self.connect_timeout:g}s"
            ) from None
        except (OSError, SQLAlchemyError) as exc:
            raise ConfigError(f"cannot connect to {self.target.where()}: {_reason(exc)}") from None

    async def dispose(self) -> None:
        """Close the pools' connections (at shut-down; the engines work again afterwards,
        opening new connections, as a test or a reload may serve the app again)."""
        await self.engine.dispose()
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    async def create_all(self) -> None:
        """Create the tables of `metadata` that do not exist (quick starts and tests; a
        project with migrations runs ``porch db upgrade`` instead)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(self.metadata.create_all)

    async def drop_all(self) -> None:
        """Drop the tables of `metadata`."""
        async with self.engine.begin() as connection:
            await connection.run_sync(self.metadata.drop_all)

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"


class _Transaction:
    """The async context of `Database.transaction` (a class: it is made per request)."""

    __slots__ = ("session",)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def __aenter__(self) -> AsyncSession:
        return self.session

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        session = self.session
        try:
            if kind is None:
                await session.commit()
            else:
                await session.rollback()
        finally:
            await session.close()


def _reason(exc: BaseException) -> str:
    """The driver's own message, on one line."""
    original = getattr(exc, "orig", None) or exc
    message = str(original).strip() or type(original).__name__
    if isinstance(original, OSError) and original.strerror:
        message = original.strerror
    return message.splitlines()[0]


def _caller_folder() -> Path:
    """The folder of the module that created the Database (skipping porch.db's own frames)."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not name.startswith("porch.db"):
            file = frame.f_globals.get("__file__")
            return Path(file).resolve().parent if file else Path.cwd()
        frame = frame.f_back  # type: ignore[assignment]
    return Path.cwd()
