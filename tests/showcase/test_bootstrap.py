"""Start-up: migrations applied from an empty database, demo data seeded once, and the
README's first command (`make demo`) serving the showcase on a fresh database."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from examples.showcase.bootstrap import DEMO_PASSWORD, DEMO_USERNAME, migrate, prepare, seed
from examples.showcase.models import Comment, Model, Post, User
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Connection

from porch.db import Database
from porch.db.migrations import check_revision, heads

SHOWCASE = Path(__file__).resolve().parents[2] / "examples" / "showcase"
ROOT = SHOWCASE.parents[1]


def fresh(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'fresh.db'}", root=SHOWCASE, metadata=Model.metadata)


def test_migrations_build_the_schema_from_an_empty_database(tmp_path):
    db = fresh(tmp_path)

    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Model.metadata))

    async def scenario() -> tuple[set[str], list[object]]:
        await migrate(db)
        await check_revision(db)  # at the head: what porch.db checks at start-up
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
            return set(tables), await connection.run_sync(differences)

    try:
        tables, diff = asyncio.run(scenario())
        assert tables >= {"users", "posts", "comments", "alembic_version"}
        assert diff == []  # the models and the migrations agree: no migration is missing
        assert len(heads(db)) == 1
    finally:
        asyncio.run(db.dispose())


def test_seeding_runs_once(tmp_path):
    db = fresh(tmp_path)

    async def counts() -> tuple[int, ...]:
        async with db.transaction() as session:
            return tuple(
                [
                    await session.scalar(select(func.count()).select_from(m))
                    for m in (User, Post, Comment)
                ]
            )

    async def scenario() -> None:
        await prepare(db)
        seeded = await counts()
        assert seeded[0] >= 3 and seeded[1] >= 3 and seeded[2] >= 1
        assert await seed(db) is False
        await prepare(db)  # a second start: migrations up to date, nothing added
        assert await counts() == seeded

    try:
        asyncio.run(scenario())
    finally:
        asyncio.run(db.dispose())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_demo(database: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`make demo` as the README says, on `port` and `database`, with this test run's venv
    (`-o` the install stamp: installing is not what is tested here)."""
    env = {**os.environ, "SHOWCASE_DATABASE_URL": database, "PORCH_ENV": ""}
    env.pop("PORCH_SECRET_KEY", None)
    command = [
        "make", "-s", "-o", ".venv/.installed", "demo", f"BIN={Path(sys.executable).parent}",
        f"PORT={port}", "HOST=127.0.0.1",
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make demo exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)  # not listening yet: the process is still importing
    pytest.fail(f"make demo was not ready within 30 s:\n{log.read_text()}")


@pytest.mark.timeout(120)
def test_make_demo_starts_the_showcase_on_a_fresh_database(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    database = f"sqlite:///{tmp_path / 'demo.db'}"
    for start in (1, 2):  # a fresh database, then the same one again
        port, log = _free_port(), tmp_path / f"demo-{start}.log"
        process = _start_demo(database, port, log)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(process, url, log)
            login = httpx.get(url + "/login", timeout=5)
            assert login.status_code == 200
            assert f"<code>{DEMO_USERNAME}</code>" in login.text
            assert "Welcome to the porch showcase" in httpx.get(url + "/", timeout=5).text
        finally:
            _stop(process)
        output = log.read_text()
        assert f"password '{DEMO_PASSWORD}'" in output  # the demo login, in the log
        assert ("seeded the demo data" in output) == (start == 1), output
