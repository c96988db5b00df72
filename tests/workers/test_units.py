"""The supervisor's pure parts: what a worker is told, which file changes count."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from porch import Config
from porch.workers import wants_supervisor
from porch.workers.link import LINK_ENV
from porch.workers.reload import ReloadFilter, watched_dirs
from porch.workers.supervisor import Supervisor, resident_memory


def test_workers_get_the_effective_config_and_the_shared_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORCH_UDS", "/tmp/from-the-outer-environment.sock")
    monkeypatch.setenv("PORCH_TIMEOUT_HEAD", "99")
    config = Config(workers=3, max_requests=100, max_requests_jitter=10, timeout_head=7.5)
    supervisor = Supervisor("app:app", ".", config)
    with socket.socket() as sock:
        supervisor.sock = sock
        envs = [supervisor._worker_env() for _ in range(200)]
        fd = str(sock.fileno())
    assert all(env["PORCH_FD"] == fd for env in envs)
    assert all(env["PORCH_UDS"] == "" for env in envs)  # "" unsets it
    assert all(env["PORCH_WORKERS"] == "1" and env["PORCH_RELOAD"] == "false" for env in envs)
    assert all(env["PORCH_TIMEOUT_HEAD"] == "7.5" for env in envs)
    assert all(env["PORCH_ACCESS_LOG"] == "true" for env in envs)
    limits = {int(env["PORCH_MAX_REQUESTS"]) for env in envs}
    assert limits <= set(range(100, 111)) and len(limits) > 1  # jitter per worker
    worker = Config.from_env(envs[0])
    assert worker.fd == int(fd) and worker.uds is None and worker.ssl_certfile is None


def test_a_worker_never_starts_a_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not wants_supervisor(Config())
    assert wants_supervisor(Config(workers=2))
    assert wants_supervisor(Config(workers=0))
    assert wants_supervisor(Config(max_requests=10))
    assert wants_supervisor(Config(limit_worker_memory=100))
    assert wants_supervisor(Config(reload=True))
    monkeypatch.setenv(LINK_ENV, "5")
    assert not wants_supervisor(Config(workers=2, max_requests=10))


def test_reload_filter(tmp_path: Path) -> None:
    config = Config(reload=True, reload_include=("*.py", "*.html"), reload_exclude=("*_test.py",))
    accept = ReloadFilter(config)
    root = str(tmp_path)
    assert accept(None, f"{root}/app.py")
    assert accept(None, f"{root}/templates/page.html")
    assert not accept(None, f"{root}/notes.txt")
    assert not accept(None, f"{root}/app_test.py")
    for ignored in (".venv", "__pycache__", ".git", "node_modules"):
        assert not accept(None, f"{root}/{ignored}/lib.py")
    assert not accept(None, f"{root}/.app.py.swp")
    assert watched_dirs(config, root) == [tmp_path.resolve()]
    two = Config.from_env({"PORCH_RELOAD_DIR": f"{root}/a, {root}/b"}, reload=True)
    assert watched_dirs(two, ".") == [(tmp_path / "a").resolve(), (tmp_path / "b").resolve()]


def test_resident_memory_reads_proc() -> None:
    rss = resident_memory(os.getpid())
    assert rss is not None and rss > 1024 * 1024
    assert resident_memory(2**22 + 12345) is None  # no such process
