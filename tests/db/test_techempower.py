"""The TechEmpower database tests (examples/techempower) on a real server, on SQLite and on
PostgreSQL, checked against TechEmpower's rules."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from examples.techempower.app import ROWS, World, create_app
from examples.techempower.seed import FORTUNES, seed
from sqlalchemy import select

from porch.db import Database
from porch.web.testing import live_server


@pytest.fixture
def techempower(db_url: str) -> Iterator[tuple[httpx.Client, Database]]:
    app = create_app(db_url)
    db: Database = app.state.db

    async def prepare() -> None:
        try:
            await seed(db)
        finally:
            await db.dispose()

    asyncio.run(prepare())
    with live_server(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client, db


def _is_world(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and set(item) == {"id", "randomNumber"}
        and 1 <= item["id"] <= ROWS
        and 1 <= item["randomNumber"] <= ROWS
    )


def test_single_query(techempower: tuple[httpx.Client, Database]) -> None:
    client, _ = techempower
    response = client.get("/db")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert _is_world(response.json())
    assert len({client.get("/db").json()["id"] for _ in range(10)}) > 1  # random rows


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", 1), ("20", 20), ("0", 1), ("-5", 1), ("foo", 1), ("", 1), ("501", 500), (None, 1)],
)
def test_multiple_queries_are_clamped(
    techempower: tuple[httpx.Client, Database], value: str | None, expected: int
) -> None:
    client, _ = techempower
    params = {} if value is None else {"queries": value}
    worlds = client.get("/queries", params=params).json()
    assert isinstance(worlds, list) and len(worlds) == expected
    assert all(_is_world(w) for w in worlds)


def test_fortunes(techempower: tuple[httpx.Client, Database]) -> None:
    client, _ = techempower
    response = client.get("/fortunes")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(" in page
    rows = re.findall(r"<tr><td>(\d+)</td><td>(.*?)</td></tr>", page)
    messages = [html.unescape(message) for _, message in rows]
    assert len(rows) == len(FORTUNES) + 1
    assert messages == sorted(FORTUNES + ["Additional fortune added at request time."])
    assert ("0", "Additional fortune added at request time.") in rows
    assert "フレームワークのベンチマーク" in messages


def test_updates_are_persisted(techempower: tuple[httpx.Client, Database]) -> None:
    client, db = techempower
    worlds = client.get("/updates", params={"queries": "20"}).json()
    assert len(worlds) == 20 and all(_is_world(w) for w in worlds)
    latest = {w["id"]: w["randomNumber"] for w in worlds}  # a repeated id: the last one wins

    async def stored() -> dict[int, int]:
        engine = db.make_engine(pooled=False)  # this loop's own connection
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(World.id, World.randomNumber).where(World.id.in_(list(latest)))
                )
                return {row[0]: row[1] for row in rows}
        finally:
            await engine.dispose()

    assert asyncio.run(stored()) == latest
    assert len(client.get("/updates", params={"queries": "x"}).json()) == 1
    assert len(client.get("/updates", params={"queries": "600"}).json()) == 500
