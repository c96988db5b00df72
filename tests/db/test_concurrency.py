"""500 concurrent HTTP requests on a real server, each adding one to one counter row: the
count ends at exactly 500 on SQLite (WAL, busy timeout) and on PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import update

import porch
from porch.db import Database, Session, SyncSession
from porch.web.testing import live_server
from tests.db.models import Counter

REQUESTS = 500


def counter_app(url: str) -> tuple[porch.App, Database]:
    app = porch.App()
    db = Database(url, app=app)

    @app.post("/hit")
    async def hit(db: Session) -> str:
        # Atomic in the database: no read-modify-write race between requests.
        await db.execute(update(Counter).where(Counter.id == 1).values(n=Counter.n + 1))
        return "ok"

    @app.post("/hit-sync")
    def hit_sync(db: SyncSession) -> str:
        db.execute(update(Counter).where(Counter.id == 1).values(n=Counter.n + 1))
        return "ok"

    @app.get("/count")
    async def count(db: Session) -> dict[str, int]:
        row = await db.get(Counter, 1)
        return {"n": row.n if row else -1}

    return app, db


async def _seed(db: Database) -> None:
    await db.create_all()
    async with db.transaction() as session:
        session.add(Counter(id=1, n=0))
    await db.dispose()  # the server's loop opens its own connections


async def _hammer(base: str, path: str) -> list[int]:
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        responses = await asyncio.gather(*(client.post(path) for _ in range(REQUESTS)))
        final = await client.get("/count")
    return [r.status_code for r in responses] + [final.json()["n"]]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("path", ["/hit", "/hit-sync"])
def test_500_concurrent_increments(db_url: str, path: str) -> None:
    app, db = counter_app(db_url)
    asyncio.run(_seed(db))
    with live_server(app) as server:
        *statuses, final = asyncio.run(_hammer(server.url, path))
    failures = [s for s in statuses if s != 200]
    assert not failures, f"{len(failures)} requests failed: {sorted(set(failures))}"
    assert final == REQUESTS
