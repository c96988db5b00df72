"""Sessions per request on SQLite and PostgreSQL: commit on success, rollback on error,
sync handlers' sessions, relationships, and the provider errors at freeze."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

import porch
from porch.db import Database, Session, SyncSession, text
from porch.errors import HTTPError
from porch.web.testing import TestClient
from tests.db.models import Author, Book, Counter, Note


def make_app(url: str) -> tuple[porch.App, Database]:
    app = porch.App()
    db = Database(url, app=app)

    @app.post("/authors")
    async def create_author(name: str, db: Session) -> dict[str, Any]:
        author = Author(name=name, books=[Book(title=f"{name} {i}") for i in range(3)])
        db.add(author)
        await db.flush()
        return {"id": author.id}

    @app.get("/authors/{id:int}")
    async def show_author(id: int, db: Session) -> dict[str, Any]:
        found = await db.scalar(
            select(Author).where(Author.id == id).options(selectinload(Author.books))
        )
        if found is None:
            raise HTTPError(404, f"no author {id}")
        return {"name": found.name, "books": [b.title for b in found.books]}

    @app.post("/fail")
    async def fail(db: Session, status: int = 0) -> str:
        db.add(Note(body="must not stay"))
        await db.flush()  # the row is in the transaction...
        if status:
            raise HTTPError(status, "refused")
        raise RuntimeError("handler broke")  # ...and the error rolls it back

    @app.post("/sync-notes")
    def sync_note(body: str, db: SyncSession) -> dict[str, Any]:
        note = Note(body=body)
        db.add(note)
        db.flush()
        return {"id": note.id, "count": db.scalar(select(func.count(Note.id)))}

    @app.post("/sync-fail")
    def sync_fail(db: SyncSession) -> str:
        db.add(Note(body="must not stay"))
        db.flush()
        raise HTTPError(409, "conflict")

    @app.get("/notes")
    async def notes(db: Session) -> list[str]:
        return list(await db.scalars(select(Note.body).order_by(Note.id)))

    return app, db


@pytest.fixture
def client(db_url: str) -> Any:
    app, db = make_app(db_url)
    with TestClient(app) as client:
        client.app_db = db
        client.portal = client._run
        client.portal(db.create_all())
        yield client


def test_commit_on_success_and_relationship_loading(client: Any) -> None:
    created = client.post("/authors?name=Ursula")
    assert created.status_code == 200, created.text
    shown = client.get(f"/authors/{created.json()['id']}")
    assert shown.json() == {"name": "Ursula", "books": ["Ursula 0", "Ursula 1", "Ursula 2"]}
    assert client.get("/authors/999").status_code == 404


def test_a_failing_commit_is_an_error_not_a_success(client: Any) -> None:
    assert client.post("/authors?name=Dup").status_code == 200
    again = client.post("/authors?name=Dup")  # the unique name fails at flush/commit
    assert again.status_code == 500
    assert client.get("/notes").json() == []


@pytest.mark.parametrize("status", [0, 400, 409])
def test_handler_error_rolls_back(client: Any, status: int) -> None:
    response = client.post(f"/fail?status={status}")
    assert response.status_code == (status or 500)
    assert client.get("/notes").json() == []


def test_sync_handler_gets_a_sync_session_in_its_thread(client: Any) -> None:
    first = client.post("/sync-notes?body=one")
    assert first.status_code == 200, first.text
    assert first.json()["count"] == 1
    assert client.post("/sync-notes?body=two").json()["count"] == 2
    assert client.post("/sync-fail").status_code == 409
    assert client.get("/notes").json() == ["one", "two"]


def test_cascade_and_foreign_keys_are_enforced(client: Any) -> None:
    db: Database = client.app_db
    author_id = client.post("/authors?name=Cascade").json()["id"]

    async def delete_and_orphan() -> tuple[int, str]:
        async with db.transaction() as session:
            await session.execute(text("DELETE FROM t_authors WHERE id = :id"), {"id": author_id})
        async with db.transaction() as session:
            left = await session.scalar(select(func.count(Book.id)))
        try:
            async with db.transaction() as session:
                session.add(Book(title="orphan", author_id=123456))
        except Exception as exc:  # IntegrityError from the database, not from SQLAlchemy
            return int(left or 0), type(exc).__name__
        return int(left or 0), "stored"

    left, outcome = client.portal(delete_and_orphan())
    assert left == 0  # ON DELETE CASCADE ran in the database (SQLite: foreign_keys=ON)
    assert outcome == "IntegrityError"


def test_transaction_helper_rolls_back(client: Any) -> None:
    db: Database = client.app_db

    async def scenario() -> int:
        with pytest.raises(ValueError):
            async with db.transaction() as session:
                session.add(Counter(id=1, n=5))
                await session.flush()
                raise ValueError("stop")
        async with db.session() as session:
            return len(list(await session.scalars(select(Counter))))

    assert client.portal(scenario()) == 0


def test_handlers_without_a_database_parameter_are_untouched(sqlite_url: str) -> None:
    app = porch.App(sessions=False, csrf=False)  # nothing else wraps the handler
    Database(sqlite_url, app=app)

    @app.get("/plain")
    async def plain() -> str:
        return "ok"

    app.freeze()
    # The fast path stays: a handler with no parameters is called directly.
    invoker = app._invokers[id(next(r for r in app.router.routes if r.path == "/plain"))]
    assert invoker.__name__ == "<lambda>"


def test_wrong_session_kind_is_refused_at_freeze(sqlite_url: str) -> None:
    app = porch.App()
    Database(sqlite_url, app=app)

    @app.get("/x")
    def sync_with_async_session(db: Session) -> str:
        return "x"

    with pytest.raises(TypeError, match="SyncSession"):
        app.freeze()

    other = porch.App()
    Database(sqlite_url, app=other)

    @other.get("/y")
    async def async_with_sync_session(db: SyncSession) -> str:
        return "y"

    with pytest.raises(TypeError, match="block the event loop"):
        other.freeze()


def test_session_without_a_database_is_refused_at_freeze() -> None:
    app = porch.App()

    @app.get("/x")
    async def handler(db: Session) -> str:
        return "x"

    with pytest.raises(TypeError, match=r"db.init_app\(app\)"):
        app.freeze()


def test_openapi_leaves_the_session_out(sqlite_url: str) -> None:
    app = porch.App(openapi=True)
    Database(sqlite_url, app=app)

    @app.get("/items")
    async def items(db: Session, limit: int = 10) -> list[int]:
        return []

    operation = app.openapi()["paths"]["/items"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["limit"]


def test_sessions_work_again_after_a_restart(sqlite_url: str) -> None:
    """The pool is disposed at shut-down: a second serving (new event loop) works."""
    app, db = make_app(sqlite_url)
    asyncio.run(db.create_all())
    asyncio.run(db.dispose())
    for body in ("first", "second"):
        with TestClient(app) as client:
            assert client.post(f"/sync-notes?body={body}").status_code == 200
            assert client.get("/notes").json()[-1] == body
