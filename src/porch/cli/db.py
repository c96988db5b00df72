"""``porch db``: migrations (Alembic) and quick table creation for an app's `porch.db.Database`.

The Database is found through ``--app module:attr`` (or ``$PORCH_APP``): the attribute may be
the Database itself or a porch.App it is attached to (``db.init_app(app)``). The commands
import porch.db only when they run, so ``porch serve`` does not pay for SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from porch.cli.loader import load_object
from porch.cli.options import app_dir_option
from porch.errors import ConfigError

if TYPE_CHECKING:
    from porch.db import Database

__all__ = ["db"]


def find_database(spec: str, app_dir: str) -> Database:
    """The Database named by ``module:attr``; `ConfigError` saying what was found instead."""
    from porch.db import Database

    obj = load_object(spec, app_dir)
    if isinstance(obj, Database):
        return obj
    attached = getattr(getattr(obj, "state", None), "db", None)
    if isinstance(attached, Database):
        return attached
    raise ConfigError(
        f"'{spec}' is a {type(obj).__name__} without a Database: name the porch.db.Database, "
        "or the porch.App it is attached to with db.init_app(app)"
    )


@click.group("db")
@click.option(
    "--app",
    "app",
    envvar="PORCH_APP",
    required=True,
    help="module:attribute of the app's porch.db.Database, or of the porch.App it is "
    "attached to [env: PORCH_APP].",
)
@app_dir_option
@click.pass_context
def db(ctx: click.Context, app: str, app_dir: str) -> None:
    """Database migrations (Alembic) for the app's porch.db.Database.

    The migrations live in the project: migrations/ in the Database's root (the folder of the
    module that creates it). Start with `porch db --app myapp:app init`.
    """
    ctx.obj = {"app": app, "app_dir": app_dir}
    alembic = logging.getLogger("alembic")
    if not alembic.handlers:  # Alembic says what it runs ("Running upgrade a -> b")
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        alembic.addHandler(handler)
        alembic.setLevel(logging.INFO)
        alembic.propagate = False


@db.command("init")
@click.pass_obj
def init_command(obj: dict[str, str]) -> None:
    """Create the migrations folder (env.py, script.py.mako, versions/)."""

    def action(database: Database) -> None:
        from porch.db import migrations

        folder = migrations.init(database)
        click.echo(f"Created {folder}")
        click.echo('Next: porch db revision --autogenerate -m "initial", then porch db upgrade')

    _with(obj, action)


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
@click.option("--autogenerate", is_flag=True, help="Compare the models with the database.")
@click.pass_obj
def revision_command(obj: dict[str, str], message: str, autogenerate: bool) -> None:
    """Write a new migration in migrations/versions/."""

    def action(database: Database) -> None:
        from porch.db import migrations

        for script in migrations.revision(database, message, autogenerate):
            click.echo(f"Created {script.path}")

    _with(obj, action)


@db.command("upgrade")
@click.argument("revision", default="head")
@click.pass_obj
def upgrade_command(obj: dict[str, str], revision: str) -> None:
    """Apply the migrations up to REVISION (default: head)."""
    from porch.db import migrations

    _with(obj, lambda database: migrations.upgrade(database, revision))


@db.command("downgrade", context_settings={"ignore_unknown_options": True})  # -1 is a revision
@click.argument("revision")
@click.pass_obj
def downgrade_command(obj: dict[str, str], revision: str) -> None:
    """Undo migrations down to REVISION (-1: the last one; base: all of them)."""
    from porch.db import migrations

    _with(obj, lambda database: migrations.downgrade(database, revision))


@db.command("current")
@click.option("-v", "--verbose", is_flag=True)
@click.pass_obj
def current_command(obj: dict[str, str], verbose: bool) -> None:
    """Print the database's revision."""
    from alembic import command

    from porch.db import migrations

    _with(obj, lambda database: command.current(migrations.alembic_config(database), verbose))


@db.command("history")
@click.option("-v", "--verbose", is_flag=True)
@click.pass_obj
def history_command(obj: dict[str, str], verbose: bool) -> None:
    """List the migrations, newest first."""
    from alembic import command

    from porch.db import migrations

    _with(
        obj, lambda database: command.history(migrations.alembic_config(database), verbose=verbose)
    )


@db.command("create-all")
@click.pass_obj
def create_all_command(obj: dict[str, str]) -> None:
    """Create the models' tables that do not exist, without migrations (quick starts)."""

    def action(database: Database) -> None:
        async def create() -> None:
            try:
                await database.check_connection()
                await database.create_all()
            finally:
                await database.dispose()

        asyncio.run(create())
        click.echo(f"Created the tables of {len(database.metadata.tables)} models")

    _with(obj, action)


def _with(obj: dict[str, str], action: Callable[[Database], Any]) -> None:
    """Run `action` on the app's Database; porch's and Alembic's errors become one line."""
    from alembic.util import CommandError

    try:
        action(find_database(obj["app"], obj["app_dir"]))
    except (ConfigError, CommandError) as exc:
        raise click.ClickException(str(exc)) from None
