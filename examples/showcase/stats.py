"""The numbers of the stats page, computed at most once per `TTL` seconds (porch.cache).

`site_stats` runs four queries; `@cached` keeps its result in the app's in-process cache,
so the page costs no query while the entry is fresh. Writes invalidate it
(``await site_stats.invalidate()``), so the page is never staler than the last post.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from examples.showcase.database import cache, db
from examples.showcase.models import Comment, Post, User
from porch.cache import cached

TTL = 60.0
TOP = 5


@cached(ttl=TTL, cache=cache)
async def site_stats() -> dict[str, Any]:
    async with db.transaction() as session:
        users = await session.scalar(select(func.count()).select_from(User))
        posts = await session.scalar(select(func.count()).select_from(Post))
        comments = await session.scalar(select(func.count()).select_from(Comment))
        n = func.count(Comment.id).label("n")
        rows = await session.execute(
            select(Post.id, Post.title, User.username, n)
            .join(User, User.id == Post.author_id)
            .outerjoin(Comment, Comment.post_id == Post.id)
            .group_by(Post.id, Post.title, User.username)
            .order_by(n.desc(), Post.id.desc())
            .limit(TOP)
        )
        top = [
            {"id": id, "title": title, "author": author, "comments": count}
            for id, title, author, count in rows
        ]
    return {
        "users": users,
        "posts": posts,
        "comments": comments,
        "top": top,
        "computed_at": datetime.now(UTC).strftime("%H:%M:%S.%f UTC"),
    }
