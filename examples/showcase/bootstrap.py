"""What happens before the first request: migrate the database, then seed it once.

`make demo` must work on a fresh clone with no manual step, so the app applies its own
migrations at start-up (`prepare` is an ``on_startup`` hook that runs before porch.db's
check that the database is at the latest revision). A production deployment would rather
run ``porch db --app examples.showcase.app:app upgrade`` once per release, before starting
its workers, so that several processes never migrate at the same time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from examples.showcase.accounts import create_user
from examples.showcase.models import Comment, Post, User
from porch.db import Database
from porch.db.migrations import upgrade

logger = logging.getLogger("showcase")

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "porch-demo"  # printed in the log and shown on the login page

_PEOPLE = [(DEMO_USERNAME, DEMO_PASSWORD), ("ada", "ada-demo-pass"), ("linus", "linus-demo")]
_POSTS = [
    (
        "ada",
        "Welcome to the porch showcase",
        "This site is a porch app: blueprints, templates, SQLite through porch.db, "
        "argon2 password hashes, CSRF-protected forms and a live feed. Log in and post!",
    ),
    (
        "linus",
        "Open a second window",
        "Posts appear on every open home page as they are written: the live feed is "
        "Server-Sent Events from an in-process broadcaster.",
    ),
    (
        "demo",
        "The API has docs",
        "Every /api route is validated from its type hints and described at /docs. "
        "Your API token is on the account page.",
    ),
]
_COMMENTS = [(0, "linus", "Nice porch."), (0, "demo", "Trying the comments."), (2, "ada", "Neat.")]


async def migrate(db: Database) -> None:
    """Apply the pending migrations (Alembic runs its own event loop: in a thread)."""
    await asyncio.to_thread(upgrade, db)


async def seed(db: Database) -> bool:
    """Add the demo users, posts and comments to an empty database; False when it had users
    already (seeding runs once, on the first start) or another worker seeded it meanwhile
    (its demo users' unique names make this one's transaction fail)."""
    try:
        return await _seed(db)
    except IntegrityError:
        return False


async def _seed(db: Database) -> bool:
    async with db.transaction() as session:
        if await session.scalar(select(func.count()).select_from(User)):
            return False
        users = {name: await create_user(session, name, pw) for name, pw in _PEOPLE}
        start = datetime.now(UTC) - timedelta(hours=len(_POSTS))
        posts = [
            Post(author=users[who], title=title, body=body, created_at=start + timedelta(hours=i))
            for i, (who, title, body) in enumerate(_POSTS)
        ]
        session.add_all(posts)
        session.add_all(
            Comment(post=posts[i], author=users[who], body=b) for i, who, b in _COMMENTS
        )
    return True


async def prepare(db: Database) -> None:
    await migrate(db)
    if await seed(db):
        logger.warning("seeded the demo data into %s", db.target.where())
    logger.warning("demo login: username %r, password %r", DEMO_USERNAME, DEMO_PASSWORD)
