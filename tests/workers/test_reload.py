"""``porch serve --reload``: a watched file's change restarts the server, others do not."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from porch import Config, ConfigError
from tests.workers.conftest import DEADLINE, Supervised, write_app

pytestmark = pytest.mark.timeout(90)


def test_editing_a_watched_file_restarts_and_others_do_not(tmp_path: Path) -> None:
    write_app(tmp_path)
    (tmp_path / ".venv").mkdir()
    args = ("--reload", "--reload-exclude", "skip_*.py", "--reload-exclude", "*.tmp")
    with Supervised(tmp_path, *args) as porch:
        (first,) = porch.ready(1)
        porch.line("Watching .* for changes")
        status, body = porch.get()
        assert (status, body) == (200, f"{first} v1".encode())
        since = porch.mark()
        # None of these may restart the server...
        (tmp_path / "notes.txt").write_text("not code")
        (tmp_path / "skip_me.py").write_text("x = 1\n")
        (tmp_path / "draft.py.tmp").write_text("x = 1\n")
        (tmp_path / ".venv" / "lib.py").write_text("x = 1\n")
        # ...and this one must.
        write_app(tmp_path, version="v2-edited")
        changed = porch.line(r"Changed: (.*); reloading", since).group(1)
        assert changed == "wapp.py" or changed.endswith("/wapp.py"), changed
        (second,) = porch.ready(1, since)
        porch.line(rf"Worker {first} stopped", since)
        assert porch.get() == (200, f"{second} v2-edited".encode())
        assert len(porch.matches("Changed: ")) == 1
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


def test_reload_survives_code_that_does_not_start(tmp_path: Path) -> None:
    write_app(tmp_path)
    with Supervised(tmp_path, "--reload") as porch:
        (first,) = porch.ready(1)
        porch.line("Watching .* for changes")
        since = porch.mark()
        (tmp_path / "wapp.py").write_text("raise RuntimeError('half-edited')\n")
        porch.line("Still serving the previous code", since)
        assert porch.get() == (200, f"{first} v1".encode())
        since = porch.mark()
        write_app(tmp_path, version="v3-fixed")
        (fixed,) = porch.ready(1, since)
        porch.line(rf"Worker {first} stopped", since)  # the old one no longer accepts
        assert porch.get() == (200, f"{fixed} v3-fixed".encode())
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--reload", "--env", "production"],
            "--reload is for development: it cannot run with --env production",
        ),
        (
            ["--reload", "--workers", "2"],
            "--reload runs one worker: it cannot be combined with --workers",
        ),
        (["--workers", "-1"], "--workers (PORCH_WORKERS) must be 0 or more; got -1"),
        (["--timeout-worker", "-1"], "--timeout-worker (PORCH_TIMEOUT_WORKER) must be 0 (off)"),
        (["--workers", "2", "--static"], "porch static serves from one process: --workers"),
    ],
)
def test_contradictory_options_are_refused_in_one_line(args: list[str], message: str) -> None:
    command = ["static", "."] if "--static" in args else ["serve", "wapp:app"]
    args = [a for a in args if a != "--static"]
    done = subprocess.run(
        [sys.executable, "-m", "porch", *command, *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode != 0
    assert done.stderr.startswith("Error: " + message), done.stderr
    assert done.stderr.count("\n") == 1


def test_env_follows_reload_unless_given() -> None:
    assert Config().env == "production"
    assert Config(reload=True).env == "development"
    assert Config(env="development").env == "development"
    assert Config(timeout_worker=0, limit_worker_memory=0).timeout_worker == 0
    with pytest.raises(ConfigError, match="--reload is for development"):
        Config(reload=True, env="production")
    with pytest.raises(ConfigError, match="--timeout-head .* must be positive"):
        Config(timeout_head=0)
    with pytest.raises(ConfigError, match="PORCH_ENV"):
        Config(env="staging")
