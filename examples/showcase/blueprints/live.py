"""The live feed: new posts as Server-Sent Events (static/live.js listens with EventSource).

The stream is made of plain dicts from the broadcaster (examples/showcase/feed.py); only
this module knows they travel as SSE. A WebSocket version would be one more handler here,
``@bp.websocket("/posts/ws")`` sending the same dicts as JSON, and live.js would open a
``WebSocket`` instead of an ``EventSource``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select

from examples.showcase.blueprints.posts import post_message
from examples.showcase.database import db
from examples.showcase.feed import Subscription, TooManySubscribers, feed
from examples.showcase.models import Post
from porch import Blueprint, EventStream, Request, ServerSentEvent, abort
from porch.web.openapi import exclude

bp = Blueprint("live", url_prefix="/live")

CATCH_UP = 50  # at most this many missed posts are sent to a reconnecting browser


async def _missed(last_id: int) -> list[dict[str, Any]]:
    async with db.transaction() as session:
        posts = await session.scalars(
            select(Post).where(Post.id > last_id).order_by(Post.id).limit(CATCH_UP)
        )
        return [post_message(p) for p in posts]


async def _events(subscription: Subscription, last_id: int | None) -> AsyncIterator[Any]:
    try:
        # Sent once the subscription exists: a page that saw "ready" misses no later post.
        yield ServerSentEvent({"subscribers": feed.subscribers}, event="ready")
        if last_id is not None:  # a reconnection: what was posted while it was away
            for message in await _missed(last_id):
                yield ServerSentEvent(message, event="post", id=str(message["id"]))
        async for message in subscription:
            yield ServerSentEvent(message, event="post", id=str(message["id"]))
    finally:
        await subscription.aclose()


@bp.get("/posts")
@exclude  # an event stream, not part of the JSON API
async def posts(request: Request) -> EventStream:
    """New posts as they are written (``event: post``, JSON data, the post id as event id)."""
    header = request.headers.get("last-event-id", "")
    last_id = int(header) if header.isdigit() and len(header) < 19 else None
    try:
        subscription = feed.subscribe()
    except TooManySubscribers as exc:
        abort(503, str(exc), {"retry-after": "30"})
    return EventStream(_events(subscription, last_id), ping=15.0, retry=3000)
