"""The tables: users, their posts, and comments on posts (SQLAlchemy models on porch.db).

After changing a model, make a migration (the first one was made this way):
    porch db --app examples.showcase.app:app revision --autogenerate -m "what changed"
The app applies pending migrations when it starts (examples/showcase/setup.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from porch.db import NAMING_CONVENTION

USERNAME_LENGTH = 30
TITLE_LENGTH = 120
BODY_LENGTH = 5000
COMMENT_LENGTH = 1000


class Model(DeclarativeBase):
    """The showcase's own declarative base (most apps use porch.db.Model): its tables stay
    apart from those of other apps imported into the same process, as in porch's test
    suite. The Database is given this metadata (database.py)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def now() -> datetime:
    return datetime.now(UTC)


def utc(moment: datetime) -> datetime:
    """`moment` with its time zone: SQLite gives back the UTC times it stored without one,
    which JSON readers (and JavaScript's Date) would take for local time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class User(Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, never the password
    # For the JSON API (Authorization: Bearer ...); shown on the account page.
    api_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)

    posts: Mapped[list[Post]] = relationship(back_populates="author")
    comments: Mapped[list[Comment]] = relationship(back_populates="author")


class Post(Model):
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)

    author: Mapped[User] = relationship(back_populates="posts", lazy="joined")
    comments: Mapped[list[Comment]] = relationship(
        back_populates="post", order_by="Comment.id", cascade="all, delete-orphan"
    )


class Comment(Model):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)

    post: Mapped[Post] = relationship(back_populates="comments")
    author: Mapped[User] = relationship(back_populates="comments", lazy="joined")
