"""A FastAPI application as users write them: validated bodies, path and query parameters,
a dependency, a streaming response, a background task and an exception handler. Nothing in it
knows about porch.

The tests serve it in-process, so they share its module-level events: the streamed response
and the background task wait for the test to release them (`RELEASE_TIMEOUT` at most).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

RELEASE_TIMEOUT = 10.0


class Events:
    """Module-level events a test waits on or sets; `reset()` before each test."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.stream_release = threading.Event()
        self.task_release = threading.Event()
        self.task_done = threading.Event()
        self.task_messages: list[str] = []


events = Events()


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    price: float = Field(gt=0)
    tags: list[str] = []
    description: str | None = None


class UnicornError(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def current_user(x_token: Annotated[str, Header()]) -> str:
    """A dependency: the user named by the ``X-Token`` header."""
    if not x_token.startswith("user-"):
        raise HTTPException(status_code=401, detail="bad token")
    return x_token.removeprefix("user-")


app = FastAPI(title="Hosted FastAPI", version="1.0.0")


@app.exception_handler(UnicornError)
async def unicorn_handler(request: Request, exc: UnicornError) -> JSONResponse:
    return JSONResponse(status_code=418, content={"message": f"Oops! {exc.name} did something."})


@app.post("/items")
async def create_item(item: Item) -> Item:
    return item


@app.get("/items/{item_id}")
async def read_item(
    item_id: int,
    q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    tag: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
) -> dict[str, object]:
    return {"item_id": item_id, "q": q, "limit": limit, "tags": tag}


@app.get("/me")
def read_me(user: Annotated[str, Depends(current_user)]) -> dict[str, str]:
    return {"user": user}


@app.get("/unicorns/{name}")
async def read_unicorn(name: str) -> dict[str, str]:
    if name == "yolo":
        raise UnicornError(name)
    return {"unicorn": name}


@app.get("/crash")
async def crash() -> dict[str, str]:
    raise RuntimeError("a bug in a FastAPI endpoint")


def record_message(message: str) -> None:
    """The background task: runs after the response was sent, waits until the test says so."""
    if events.task_release.wait(RELEASE_TIMEOUT):
        events.task_messages.append(message)
    events.task_done.set()


@app.post("/notify")
async def notify(message: str, background_tasks: BackgroundTasks) -> dict[str, str]:
    background_tasks.add_task(record_message, message)
    return {"queued": message}


@app.get("/stream")
async def stream(count: int = 5) -> StreamingResponse:
    async def pieces() -> AsyncIterator[bytes]:
        yield b"piece 1\n"
        if not await asyncio.to_thread(events.stream_release.wait, RELEASE_TIMEOUT):
            return
        for n in range(2, count + 1):
            yield f"piece {n}\n".encode()

    return StreamingResponse(pieces(), media_type="text/plain")
