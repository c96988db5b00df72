"""The JSON API under /api: bodies validated by msgspec Structs, described at /docs.

Reading is public; writing takes a user's token (``Authorization: Bearer <token>``, shown
on the account page). A token is not sent by browsers on their own, as a cookie is, so the
API needs no CSRF check (``csrf=False``): a cross-site form cannot act as the user here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from sqlalchemy import select

from examples.showcase.blueprints.posts import publish_post
from examples.showcase.models import (
    BODY_LENGTH,
    COMMENT_LENGTH,
    TITLE_LENGTH,
    Comment,
    Post,
    User,
    utc,
)
from examples.showcase.stats import site_stats
from porch import Blueprint, HTTPError, JSONResponse, Request, abort
from porch.db import Session

bp = Blueprint("api", url_prefix="/api", csrf=False)


@bp.error_handler(HTTPError)
def json_error(request: Request, exc: HTTPError) -> JSONResponse:
    """Errors of the API in JSON, ``{"detail": ...}`` like its 422s (pages answer text)."""
    return JSONResponse({"detail": exc.errors or exc.detail}, exc.status, exc.headers)


class NewPost(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=TITLE_LENGTH)]
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=BODY_LENGTH)]


class NewComment(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=COMMENT_LENGTH)]


class CommentOut(msgspec.Struct):
    id: int
    author: str
    body: str
    created_at: datetime


class PostOut(msgspec.Struct):
    id: int
    title: str
    body: str
    author: str
    created_at: datetime


class PostDetail(PostOut, kw_only=True):
    comments: list[CommentOut]


def post_out(post: Post) -> PostOut:
    return PostOut(post.id, post.title, post.body, post.author.username, utc(post.created_at))


def comment_out(comment: Comment) -> CommentOut:
    return CommentOut(comment.id, comment.author.username, comment.body, utc(comment.created_at))


async def token_user(request: Request, db: Session) -> User:
    """The user whose API token the request carries, else a 401 that says how to send one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    user = None
    if scheme.lower() == "bearer" and token.strip():
        user = await db.scalar(select(User).where(User.api_token == token.strip()))
    if user is None:
        abort(
            401,
            "send your API token (on the account page) as 'Authorization: Bearer <token>'",
            {"www-authenticate": 'Bearer realm="showcase"'},
        )
    assert user is not None
    return user


@bp.get("/posts")
async def list_posts(
    db: Session,
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20,
    before: Annotated[int, msgspec.Meta(ge=1)] | None = None,
) -> list[PostOut]:
    """The latest posts, newest first; `before` (a post id) pages back."""
    query = select(Post).order_by(Post.id.desc()).limit(limit)
    if before is not None:
        query = query.where(Post.id < before)
    return [post_out(p) for p in await db.scalars(query)]


@bp.get("/posts/{id:int}")
async def get_post(id: int, db: Session) -> PostDetail:
    post = await db.get(Post, id)
    if post is None:
        abort(404, f"no post {id}")
    assert post is not None
    await db.refresh(post, ["comments"])
    base = post_out(post)
    return PostDetail(
        **msgspec.structs.asdict(base), comments=[comment_out(c) for c in post.comments]
    )


@bp.post("/posts")
async def create_post(request: Request, new: NewPost, db: Session) -> tuple[PostOut, int]:
    """Write a post as the token's user; it appears on the live feed."""
    user = await token_user(request, db)
    post = Post(author=user, title=new.title, body=new.body)
    db.add(post)
    await db.flush()
    await publish_post(db, post)
    return post_out(post), 201


@bp.post("/posts/{id:int}/comments")
async def create_comment(
    request: Request, id: int, new: NewComment, db: Session
) -> tuple[CommentOut, int]:
    user = await token_user(request, db)
    if await db.get(Post, id) is None:
        abort(404, f"no post {id}")
    comment = Comment(post_id=id, author=user, body=new.body)
    db.add(comment)
    await db.flush()
    await db.commit()
    await site_stats.invalidate()
    return comment_out(comment), 201


class Stats(msgspec.Struct):
    users: int
    posts: int
    comments: int
    computed_at: str


@bp.get("/stats")
async def stats() -> Stats:
    """The site's counts (cached, like the stats page)."""
    found = await site_stats()
    return Stats(found["users"], found["posts"], found["comments"], found["computed_at"])
