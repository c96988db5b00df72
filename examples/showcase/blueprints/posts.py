"""The home page (posts, the form to write one, the live feed), a post with its comments."""

from __future__ import annotations

from sqlalchemy import func, select

from examples.showcase.accounts import current_user_id, login_required
from examples.showcase.feed import announce
from examples.showcase.models import (
    BODY_LENGTH,
    COMMENT_LENGTH,
    TITLE_LENGTH,
    Comment,
    Post,
    utc,
)
from examples.showcase.render import render
from examples.showcase.stats import site_stats
from porch import Blueprint, RedirectResponse, Request, Response, abort
from porch.db import Session
from porch.security import flash
from porch.web.openapi import exclude

bp = Blueprint("posts")

PAGE_SIZE = 20


def post_message(post: Post) -> dict[str, object]:
    """A new post as the live feed and the API describe it."""
    return {
        "id": post.id,
        "title": post.title,
        "author": post.author.username,
        "url": f"/posts/{post.id}",
        "created_at": utc(post.created_at).isoformat(),
    }


async def recent_posts(db: Session) -> list[tuple[Post, int]]:
    """The latest posts with their comment counts, in one query."""
    counts = select(Comment.post_id, func.count().label("n")).group_by(Comment.post_id).subquery()
    rows = await db.execute(
        select(Post, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.post_id == Post.id)
        .order_by(Post.id.desc())
        .limit(PAGE_SIZE)
    )
    return [(post, n) for post, n in rows.unique()]


def check(values: dict[str, str], limits: dict[str, int], empty: dict[str, str]) -> dict[str, str]:
    """An error message per field that is empty or too long."""
    errors = {}
    for name, limit in limits.items():
        if not values[name]:
            errors[name] = empty[name]
        elif len(values[name]) > limit:
            errors[name] = f"At most {limit} characters (this is {len(values[name])})."
    return errors


async def publish_post(db: Session, post: Post) -> None:
    """Commit now, so that live readers who follow the link find the post, then tell them."""
    await db.commit()
    await site_stats.invalidate()  # the cached stats page counts posts
    await announce(post_message(post))


@bp.get("/")
@exclude  # a page, not part of the JSON API
async def index(request: Request, db: Session) -> Response:
    return render(request, "index.html", posts=await recent_posts(db), form={}, errors={})


@bp.post("/posts")
@exclude  # a page, not part of the JSON API
@login_required
async def create_post(request: Request, db: Session) -> Response:
    form = await request.form()
    values = {name: str(form.get(name) or "").strip() for name in ("title", "body")}
    errors = check(
        values,
        {"title": TITLE_LENGTH, "body": BODY_LENGTH},
        {"title": "A post needs a title.", "body": "Write something."},
    )
    if errors:  # the page again, with what was typed and a message next to each field
        posts = await recent_posts(db)
        return render(request, "index.html", 422, posts=posts, form=values, errors=errors)
    post = Post(author_id=current_user_id(request), **values)
    db.add(post)
    await db.flush()
    await db.refresh(post, ["author"])
    await publish_post(db, post)
    flash(request, "Posted.", "success")
    return RedirectResponse(f"/posts/{post.id}", 303)


async def _load(db: Session, id: int) -> Post:
    post = await db.get(Post, id)
    if post is None:
        abort(404, f"There is no post {id}.")
    await db.refresh(post, ["comments"])
    return post


@bp.get("/posts/{id:int}")
@exclude  # a page, not part of the JSON API
async def show(request: Request, id: int, db: Session) -> Response:
    return render(request, "post.html", post=await _load(db, id), form={}, errors={})


@bp.post("/posts/{id:int}/comments")
@exclude  # a page, not part of the JSON API
@login_required
async def comment(request: Request, id: int, db: Session) -> Response:
    post = await _load(db, id)
    form = await request.form()
    values = {"body": str(form.get("body") or "").strip()}
    errors = check(values, {"body": COMMENT_LENGTH}, {"body": "Write a comment first."})
    if errors:
        return render(request, "post.html", 422, post=post, form=values, errors=errors)
    db.add(Comment(post_id=post.id, author_id=current_user_id(request), body=values["body"]))
    await db.commit()
    await site_stats.invalidate()
    flash(request, "Comment added.", "success")
    return RedirectResponse(f"/posts/{post.id}#comments", 303)
