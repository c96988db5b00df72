"""Alembic's environment for this project, written by `porch db init`.

The database URL and the models' metadata come from the app's porch.db.Database (found by
`porch db --app module:attr`); edit the Database, not this file.
"""

from alembic import context

from porch.db.migrations import run_migrations

run_migrations(context)
