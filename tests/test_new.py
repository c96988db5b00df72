"""``porch new``: the project it writes passes its own tests and serves its home page, by
the two commands its README gives; ``--minimal`` writes a one-file app that serves too."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.server.test_lifecycle import DEADLINE, PorchProcess

pytestmark = pytest.mark.timeout(180)


def porch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORCH_")}
    return subprocess.run(
        [sys.executable, "-m", "porch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE * 4,
    )


def readme_commands(project: Path) -> list[str]:
    """The lines of the first ```sh block of the project's README: its two commands."""
    text = (project / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None, "the README has no commands"
    return [line for line in block[1].splitlines() if line.strip()]


def test_new_project_passes_its_tests_and_serves(tmp_path: Path) -> None:
    made = porch("new", "blog", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "blog"
    for path in (
        "README.md",
        "pyproject.toml",
        ".gitignore",
        "blog/app.py",
        "blog/models.py",
        "blog/blueprints/pages.py",
        "blog/blueprints/api.py",
        "blog/templates/index.html",
        "blog/static/style.css",
        "migrations/env.py",
        "migrations/versions/0001_posts.py",
        "tests/test_pages.py",
    ):
        assert (project / path).is_file(), path
    assert "%%project%%" not in "".join(p.read_text() for p in project.rglob("*") if p.is_file())

    start, test = readme_commands(project)
    # The second command: the project's own tests.
    assert shlex.split(test) == ["python", "-m", "pytest"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORCH_")}
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE * 6,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert re.search(r"\b8 passed\b", tested.stdout), tested.stdout

    # The first command: migrate, then serve (on a free port rather than 8000).
    migrate, serve = (shlex.split(part) for part in start.split("&&"))
    assert migrate[:2] == ["porch", "db"] and serve[:2] == ["porch", "serve"]
    migrated = porch(*migrate[1:], cwd=project)
    assert migrated.returncode == 0, migrated.stderr
    assert (project / "porch.db").is_file()
    with PorchProcess(*serve[1:], "--port", "0", cwd=project) as server:
        port = server.port()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=DEADLINE) as client:
            home = client.get("/")
            assert home.status_code == 200 and "<h1>Posts</h1>" in home.text
            assert client.get("/static/style.css").status_code == 200
            created = client.post("/api/posts", json={"title": "t", "body": "b"})
            assert created.status_code == 201
            assert "<h2>t</h2>" in client.get("/").text
        server.signal(signal.SIGTERM)
        assert server.finish() == 0


def test_minimal_is_one_file_that_serves(tmp_path: Path) -> None:
    made = porch("new", "tiny", "--minimal", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "tiny"
    assert [p.name for p in project.iterdir()] == ["app.py"]
    run = re.search(r"Run it: +porch (serve .*?) +\(", (project / "app.py").read_text())
    assert run is not None, "app.py's docstring says how to run it"
    with PorchProcess(*shlex.split(run[1]), "--port", "0", cwd=project) as server:
        port = server.port()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=DEADLINE) as client:
            assert "<h1>tiny</h1>" in client.get("/").text
            assert client.post("/notes", json={"text": "hi"}).status_code == 201
            assert client.get("/notes/0").json() == {"text": "hi"}
            assert client.post("/notes", json={"text": ""}).status_code == 422
        server.signal(signal.SIGTERM)
        assert server.finish() == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("9lives", "not a usable package name"),
        ("My-Site", "not a usable package name"),
        ("class", "not a usable package name"),
    ],
)
def test_bad_names_are_refused(tmp_path: Path, name: str, message: str) -> None:
    made = porch("new", name, cwd=tmp_path)
    assert made.returncode != 0 and message in made.stderr
    assert not any(tmp_path.iterdir())


def test_an_existing_folder_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "blog").mkdir()
    (tmp_path / "blog" / "mine.txt").write_text("keep")
    made = porch("new", "blog", cwd=tmp_path)
    assert made.returncode != 0 and "already exists and is not empty" in made.stderr
    assert [p.name for p in (tmp_path / "blog").iterdir()] == ["mine.txt"]
