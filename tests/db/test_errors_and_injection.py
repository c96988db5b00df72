"""Clear one-line errors for wrong and unreachable databases (also through `porch serve`),
and raw SQL through bound parameters: injection payloads are stored and read back as text."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import porch
from porch.db import Database, Session, text
from porch.db.urls import resolve
from porch.errors import ConfigError
from porch.web.testing import TestClient
from tests.db.models import Note

PAYLOADS = [
    "'; DROP TABLE t_notes; --",
    '" OR 1=1 --',
    "Robert'); DELETE FROM t_notes WHERE ('1'='1",
    "\\'; SELECT pg_sleep(5); --",
    "ünïcödé ✓ 漢字 🐘 \u202e",
    "%s %(name)s :id ? $1",
]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u@h/d", "porch supports sqlite:// and postgresql://"),
        ("postgresql+foo://u@h/d", "unknown driver 'foo'"),
        ("not a url at all", "is malformed"),
        ("postgresql://u:hunter2@h:5432/d?x", None),  # valid: no error
    ],
)
def test_wrong_urls_are_one_line_config_errors(url: str, expected: str | None) -> None:
    if expected is None:
        target = resolve(url, Path.cwd())
        assert target.async_url.drivername == "postgresql+asyncpg"
        assert target.sync_url.drivername == "postgresql+psycopg"
        return
    with pytest.raises(ConfigError, match=expected) as caught:
        Database(url)
    assert "\n" not in str(caught.value)


def test_passwords_are_never_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        Database("mysql://user:hunter2@host/db")
    assert "hunter2" not in str(caught.value)


def test_urls_are_mapped_to_porchs_drivers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PORCH_DATABASE_URL", raising=False)
    default = Database(root=tmp_path)
    assert str(default.url) == f"sqlite+aiosqlite:///{tmp_path / 'porch.db'}"
    assert str(default.sync_url) == f"sqlite+pysqlite:///{tmp_path / 'porch.db'}"
    relative = Database("sqlite:///data/app.db", root=tmp_path)
    assert relative.url.database == str(tmp_path / "data" / "app.db")
    monkeypatch.setenv("PORCH_DATABASE_URL", "postgres://u@db.example:6543/prod")
    from_env = Database(root=tmp_path)
    assert from_env.url.drivername == "postgresql+asyncpg"
    assert (from_env.url.host, from_env.url.port) == ("db.example", 6543)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://postgres@127.0.0.1:1/porch", "PostgreSQL at 127.0.0.1:1/porch"),
        ("sqlite:////nonexistent-folder/x.db", "unable to open database file"),
    ],
)
def test_unreachable_database_is_one_line_at_startup(url: str, expected: str) -> None:
    db = Database(url, connect_timeout=5)
    with pytest.raises(ConfigError, match="cannot connect to") as caught:
        asyncio.run(db.startup())
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_porch_serve_exits_with_one_line_when_the_database_is_down(tmp_path: Path) -> None:
    module = f"downapp_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "import porch\nfrom porch.db import Database\n"
        "app = porch.App()\nDatabase(app=app, connect_timeout=5)\n"
    )
    env = {
        **os.environ,
        "PORCH_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/porch",
        "PORCH_SECRET_KEY": "a-test-key-of-enough-length",  # production needs one
    }
    done = subprocess.run(
        [sys.executable, "-m", "porch", "serve", f"{module}:app", "--app-dir", str(tmp_path),
         "--port", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/porch" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_porch_serve_refuses_a_wrong_url(tmp_path: Path) -> None:
    module = f"badurl_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "import porch\nfrom porch.db import Database\napp = porch.App()\nDatabase(app=app)\n"
    )
    env = {**os.environ, "PORCH_DATABASE_URL": "oracle://scott:tiger@h/db"}
    done = subprocess.run(
        [sys.executable, "-m", "porch", "serve", f"{module}:app", "--app-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "porch supports sqlite:// and postgresql://" in done.stderr
    assert "Traceback" not in done.stderr and "tiger" not in done.stderr


def injection_app(url: str) -> tuple[porch.App, Database]:
    app = porch.App()
    db = Database(url, app=app)

    @app.post("/notes")
    async def add(body: str, db: Session) -> dict[str, Any]:
        if "\x00" in body:  # PostgreSQL cannot store NUL in text; refuse it on every back end
            raise porch.HTTPError(422, "body: NUL characters (\\x00) are not allowed in text")
        found = await db.execute(
            text("INSERT INTO t_notes (body) VALUES (:body) RETURNING id"), {"body": body}
        )
        return {"id": found.scalar_one()}

    @app.get("/notes/search")
    async def search(q: str, db: Session) -> list[str]:
        rows = await db.execute(
            text("SELECT body FROM t_notes WHERE body = :q ORDER BY id"), {"q": q}
        )
        return [row.body for row in rows]

    return app, db


def test_injection_payloads_are_stored_as_plain_text(db_url: str) -> None:
    app, db = injection_app(db_url)
    with TestClient(app) as client:
        client._run(db.create_all())
        for payload in PAYLOADS:
            created = client.post("/notes", params={"body": payload})
            assert created.status_code == 200, created.text
            assert client.get("/notes/search", params={"q": payload}).json() == [payload]
        # A payload that would match everything if it were pasted into the SQL matches nothing.
        assert client.get("/notes/search", params={"q": "x' OR '1'='1"}).json() == []
        nul = client.post("/notes", params={"body": "a\x00b"})
        assert nul.status_code == 422 and "NUL" in nul.text

        async def stored() -> list[str]:
            async with db.session() as session:
                return list(await session.scalars(select(Note.body).order_by(Note.id)))

        assert client._run(stored()) == PAYLOADS  # the table is still there, every row intact
