"""Alembic migrations for a porch `Database`: the folder, the commands, the start-up check.

The migrations live in the project (``migrations/`` in the Database's `root`); ``porch db
init`` writes porch's ``env.py`` there, which reads the URL and the models' metadata from the
app's Database instead of an ``alembic.ini``: one place to configure the database. Migrations
run on the async engine (``run_sync``), in batch mode on SQLite (whose ALTER TABLE cannot drop
or change columns, so Alembic copies the table).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from porch.errors import ConfigError

if TYPE_CHECKING:
    from porch.db.database import Database

__all__ = [
    "alembic_config",
    "check_revision",
    "downgrade",
    "init",
    "revision",
    "run_migrations",
    "upgrade",
]

TEMPLATE = Path(__file__).with_name("template")
_DATABASE = "porch.database"


def init(db: Database) -> Path:
    """Write the migrations folder (env.py, script.py.mako, versions/); refuses to overwrite."""
    folder = db.migrations
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"{folder} exists and is not empty: the migrations are already set up")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("env.py", "script.py.mako", "README"):
        shutil.copyfile(TEMPLATE / name, folder / name)
    (folder / "versions").mkdir()
    return folder


def alembic_config(db: Database) -> Config:
    """An Alembic `Config` for `db` (no alembic.ini: the Database is the configuration)."""
    if not (db.migrations / "env.py").is_file():
        raise ConfigError(f"no migrations in {db.migrations}: run `porch db init` first")
    config = Config(stdout=sys.stdout)  # the default is the sys.stdout of import time
    config.set_main_option("script_location", str(db.migrations))
    config.attributes[_DATABASE] = db
    return config


def revision(db: Database, message: str, autogenerate: bool) -> list[Any]:
    """A new revision file (compared with the database's tables when `autogenerate`)."""
    script = command.revision(alembic_config(db), message=message, autogenerate=autogenerate)
    return script if isinstance(script, list) else [script]


def upgrade(db: Database, target: str = "head") -> None:
    command.upgrade(alembic_config(db), target)


def downgrade(db: Database, target: str) -> None:
    command.downgrade(alembic_config(db), target)


def run_migrations(context: Any) -> None:
    """The body of the generated ``env.py``: run Alembic's `context` on the app's Database."""
    db: Database | None = context.config.attributes.get(_DATABASE)
    if db is None:
        raise ConfigError(
            "this env.py is porch's: run it with `porch db ...`, which passes the app's Database"
        )
    options = {
        "target_metadata": db.metadata,
        "render_as_batch": db.target.is_sqlite,
        "compare_type": True,
    }
    if context.is_offline_mode():  # `--sql`: print the SQL instead of running it
        context.configure(url=db.sync_url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = db.make_engine(pooled=False)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())


def heads(db: Database) -> tuple[str, ...]:
    """The head revisions of the project's migrations (empty when it has none)."""
    if not (db.migrations / "env.py").is_file():
        return ()
    return tuple(ScriptDirectory(str(db.migrations)).get_heads())


async def check_revision(db: Database) -> None:
    """`ConfigError` when the database is not at the migrations' head (when there are any)."""
    wanted = heads(db)
    if not wanted:
        return

    def current(connection: Connection) -> tuple[str, ...]:
        return tuple(MigrationContext.configure(connection).get_current_heads())

    async with db.engine.connect() as connection:
        found = await connection.run_sync(current)
    if set(found) != set(wanted):
        raise ConfigError(
            f"the database ({db.target.where()}) is at revision "
            f"{', '.join(found) or 'none (no migrations applied)'} but the migrations in "
            f"{db.migrations} are at {', '.join(wanted)}: run `porch db upgrade` "
            "(or pass check_migrations=False to Database)"
        )
