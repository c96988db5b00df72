"""What both apps of the `db` suite share: the database URL, the pool size, the seeding.

The suite runs on PostgreSQL (``$BENCH_DATABASE_URL``, default a ``porch_bench`` database on
127.0.0.1:5432, created when missing). porch and FastAPI use the same driver (asyncpg through
SQLAlchemy's async engine), the same pool (`POOL_SIZE`, no overflow), the same statements
and the same Jinja2 template; only the framework differs.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/porch_bench")
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "16"))


async def _create_database() -> None:
    import asyncpg

    from porch.db.urls import resolve

    target = resolve(URL, Path.cwd()).async_url
    name = target.database
    admin = await asyncpg.connect(
        host=target.host, port=target.port or 5432, user=target.username,
        password=target.password, database="postgres",
    )  # fmt: skip
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def seed() -> None:
    """Create the database if needed and fill World (10,000 rows) and Fortune (12 rows)."""
    from examples.techempower.seed import main

    asyncio.run(_create_database())
    asyncio.run(main(URL))


if __name__ == "__main__":
    seed()
