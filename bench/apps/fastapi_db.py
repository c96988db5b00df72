"""The `db` suite's FastAPI app: the four TechEmpower database tests, written the way the
FastAPI and SQLAlchemy docs show (a session per request from a ``Depends`` generator that
commits), on the same engine settings, statements and template as porch's example."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from examples.techempower.app import fortunes_sorted, random_world, random_worlds, update_worlds
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from bench.apps.db_common import POOL_SIZE, URL

engine = create_async_engine(
    URL.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=POOL_SIZE, max_overflow=0
)
sessions = async_sessionmaker(engine, expire_on_commit=False)
templates = Jinja2Templates(
    directory=Path(__file__).resolve().parents[2] / "examples" / "techempower" / "templates"
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with sessions() as session, session.begin():
        yield session


DB = Annotated[AsyncSession, Depends(get_session)]


@app.get("/db")
async def single(db: DB) -> dict[str, int]:
    return await random_world(db)


@app.get("/queries")
async def queries(db: DB, queries: str | None = None) -> list[dict[str, int]]:
    return await random_worlds(db, queries)


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes(request: Request, db: DB) -> Any:
    rows = await fortunes_sorted(db)
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


@app.get("/updates")
async def updates(db: DB, queries: str | None = None) -> list[dict[str, int]]:
    return await update_worlds(db, queries)
