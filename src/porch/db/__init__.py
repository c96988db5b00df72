"""porch's data layer: SQLAlchemy 2 (async) with a session per request, Alembic migrations.

    from porch.db import Database, Model, Session

    db = Database()            # $PORCH_DATABASE_URL, else ./porch.db (SQLite, WAL)
    db.init_app(app)

    @app.get("/users/{id:int}")
    async def show(id: int, session: Session) -> dict: ...

See docs/database.md.
"""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession as Session
from sqlalchemy.orm import Session as SyncSession

from porch.db.database import Database
from porch.db.model import NAMING_CONVENTION, Model
from porch.web.params import provided

__all__ = ["NAMING_CONVENTION", "Database", "Model", "Session", "SyncSession", "text"]

provided(Session, "attach a porch.db.Database to the app: db.init_app(app)")
provided(SyncSession, "attach a porch.db.Database to the app: db.init_app(app)")
