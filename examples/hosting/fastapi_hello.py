"""A plain FastAPI app: ``porch serve examples.hosting.fastapi_hello:app`` (ASGI, detected).

Nothing here knows about porch; the same file runs under uvicorn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
    yield {"greeting": "Hello"}  # shared into every request as request.state.greeting


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    quantity: int = 1


@app.get("/")
async def home() -> dict[str, str]:
    return {"message": "FastAPI on porch. POST /items, or see /docs."}


@app.post("/items")
async def add_item(item: Item) -> Item:
    return item
