"""The test suite's models, on porch.db.Model."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from porch.db import Model


class Author(Model):
    __tablename__ = "t_authors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    books: Mapped[list[Book]] = relationship(
        back_populates="author", cascade="all, delete-orphan", order_by="Book.id"
    )


class Book(Model):
    __tablename__ = "t_books"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int] = mapped_column(ForeignKey("t_authors.id", ondelete="CASCADE"))
    author: Mapped[Author] = relationship(back_populates="books")


class Counter(Model):
    __tablename__ = "t_counters"

    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


class Note(Model):
    __tablename__ = "t_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str]
