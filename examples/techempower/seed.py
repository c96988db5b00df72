"""Fill the TechEmpower tables: 10,000 worlds with random numbers and the 12 fortunes.

    python -m examples.techempower.seed [URL]     (default: $PORCH_DATABASE_URL, else SQLite)

Tables are created when missing and emptied first, so a seed can be run again.
"""

from __future__ import annotations

import asyncio
import random
import sys

from sqlalchemy import delete, insert

from examples.techempower.app import ROWS, Fortune, World, create_app
from porch.db import Database

FORTUNES = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. — Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    '<script>alert("This should not be displayed in a browser alert box.");</script>',
    "フレームワークのベンチマーク",
]


async def seed(db: Database) -> None:
    """Create and fill the tables of `db` (World and Fortune only)."""
    tables = [World.__table__, Fortune.__table__]
    async with db.engine.begin() as connection:
        await connection.run_sync(lambda c: db.metadata.create_all(c, tables=tables))
        await connection.execute(delete(World))
        await connection.execute(delete(Fortune))
        await connection.execute(
            insert(World),
            [{"id": i, "randomnumber": random.randint(1, ROWS)} for i in range(1, ROWS + 1)],
        )
        await connection.execute(
            insert(Fortune), [{"id": i, "message": m} for i, m in enumerate(FORTUNES, 1)]
        )


async def main(url: str | None) -> None:
    db: Database = create_app(url).state.db
    try:
        await db.check_connection()
        await seed(db)
    finally:
        await db.dispose()
    print(f"seeded {ROWS} worlds and {len(FORTUNES)} fortunes in {db.target.where()}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
