"""The TechEmpower database tests on porch.db: /db, /queries, /fortunes and /updates.

    PORCH_DATABASE_URL=postgresql://postgres@127.0.0.1/test python -m examples.techempower.seed
    PORCH_DATABASE_URL=postgresql://postgres@127.0.0.1/test \
        porch serve examples.techempower.app:app

Without PORCH_DATABASE_URL both use the SQLite file ``porch.db`` in this folder. The rules
are TechEmpower's: each request's rows are read one query at a time, /queries and /updates
take 1 to 500 (anything else is clamped, a non-integer is 1), the fortunes are sorted after
one is added at request time and rendered by an autoescaping template.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import String, bindparam, select, update
from sqlalchemy.orm import Mapped, mapped_column

from porch import App, Request, Response
from porch.db import Database, Model, Session
from porch.templates import Templates

ROWS = 10_000


class World(Model):
    __tablename__ = "world"

    id: Mapped[int] = mapped_column(primary_key=True)
    randomNumber: Mapped[int] = mapped_column("randomnumber")  # TechEmpower's name


class Fortune(Model):
    __tablename__ = "fortune"

    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str] = mapped_column(String(2048))


# Statements made once: SQLAlchemy caches their compiled form, the driver its prepared one.
READ_WORLD = select(World.id, World.randomNumber).where(World.id == bindparam("id"))
READ_FORTUNES = select(Fortune.id, Fortune.message)
WRITE_WORLD = (
    update(World.__table__)
    .where(World.__table__.c.id == bindparam("w_id"))
    .values(randomnumber=bindparam("w_number"))
)


def count(queries: str | None) -> int:
    """TechEmpower's ``queries`` parameter: an integer clamped to 1..500, else 1."""
    try:
        value = int(queries) if queries is not None else 1
    except ValueError:
        return 1
    return min(max(value, 1), 500)


# The work of each test, on a session (shared with bench/apps/fastapi_db.py, so that the
# benchmark compares the frameworks around the same queries).


async def random_world(db: Session) -> dict[str, int]:
    row = (await db.execute(READ_WORLD, {"id": random.randint(1, ROWS)})).one()
    return {"id": row.id, "randomNumber": row.randomNumber}


async def random_worlds(db: Session, queries: str | None) -> list[dict[str, int]]:
    return [await random_world(db) for _ in range(count(queries))]


async def fortunes_sorted(db: Session) -> list[Any]:
    rows: list[Any] = list(await db.execute(READ_FORTUNES))
    rows.append((0, "Additional fortune added at request time."))
    rows.sort(key=lambda row: row[1])
    return rows


async def update_worlds(db: Session, queries: str | None) -> list[dict[str, int]]:
    worlds = []
    for _ in range(count(queries)):
        world = await random_world(db)
        worlds.append({"id": world["id"], "randomNumber": random.randint(1, ROWS)})
    # One batch, in id order: concurrent requests lock rows in the same order (no deadlocks
    # on PostgreSQL); the caller's session commits.
    changes = sorted({w["id"]: w for w in worlds}.values(), key=lambda w: w["id"])
    await db.execute(
        WRITE_WORLD, [{"w_id": w["id"], "w_number": w["randomNumber"]} for w in changes]
    )
    return worlds


def create_app(url: str | None = None, *, pool_size: int = 10) -> App:
    """The app on `url` (default: $PORCH_DATABASE_URL, else SQLite next to this file)."""
    app = App(sessions=False, csrf=False)  # a JSON and HTML API without cookies or forms
    Database(url, app=app, pool_size=pool_size, max_overflow=0)  # app.state.db
    templates = Templates("templates", app=app)

    @app.get("/db")
    async def single(db: Session) -> dict[str, int]:
        return await random_world(db)

    @app.get("/queries")
    async def queries(db: Session, queries: str | None = None) -> list[dict[str, int]]:
        return await random_worlds(db, queries)

    @app.get("/fortunes")
    async def fortunes(request: Request, db: Session) -> Response:
        return templates.render(request, "fortunes.html", fortunes=await fortunes_sorted(db))

    @app.get("/updates")
    async def updates(db: Session, queries: str | None = None) -> list[dict[str, int]]:
        return await update_worlds(db, queries)

    return app


app = create_app()
