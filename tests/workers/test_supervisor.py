"""``porch serve --workers N``: real supervisor and worker processes under real load."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import read_response, recv_all
from tests.server.test_lifecycle import PorchProcess
from tests.workers.conftest import (
    DEADLINE,
    Supervised,
    fresh_get,
    load,
    wait_until,
    write_app,
)

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    write_app(tmp_path)
    return tmp_path


def test_sighup_replaces_every_worker_under_load_without_a_failure(app_dir: Path) -> None:
    with Supervised(app_dir, "--workers", "2") as porch:
        old = set(porch.ready(2))
        with load(porch.http_port) as loads:
            wait_until(lambda: all(len(one.outcomes) > 20 for one in loads), "load flows")
            write_app(app_dir, version="v2-reloaded")  # new code, picked up by SIGHUP only
            assert all("v1" in body for one in loads for body in one.bodies_since(0))
            marks = [len(one.outcomes) for one in loads]
            since = porch.mark()
            porch.signal(signal.SIGHUP)
            new = set(porch.ready(2, since))
            for pid in old:
                porch.line(rf"Worker {pid} stopped \(exit code 0\)")
            # Both clients must reach the new code before the load stops.
            wait_until(
                lambda: all(
                    any("v2-reloaded" in body for body in one.bodies_since(mark))
                    for one, mark in zip(loads, marks, strict=True)
                ),
                "both clients see the new code",
            )
        for one in loads:
            assert one.failures() == [], porch.transcript()
            assert len(one.outcomes) > 40
        assert not old & new
        served = set().union(*(one.pids() for one in loads))
        assert served <= old | new and served & new
        # After the reload, only the new workers answer, with the new code.
        status, body = porch.get()
        assert status == 200 and body.decode().endswith("v2-reloaded")
        assert int(body.split()[0]) in new
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


def test_a_killed_worker_is_replaced_and_the_others_keep_serving(app_dir: Path) -> None:
    with Supervised(app_dir, "--workers", "2") as porch:
        first, second = porch.ready(2)
        with load(porch.http_port, keep_alive=False) as (fresh,):
            wait_until(lambda: len(fresh.outcomes) > 20, "load flows")
            since = porch.mark()
            os.kill(first, signal.SIGKILL)
            porch.line(rf"Worker {first} died unexpectedly \(SIGKILL\)")
            dead_at = time.monotonic()  # from here no connection can reach the dead worker
            (replacement,) = porch.ready(1, since)
            wait_until(lambda: replacement in fresh.pids(), "the new worker serves")
        assert replacement not in (first, second)
        # Only a request already on the killed worker may fail (one client: at most one).
        failures = fresh.failures()
        assert len(failures) <= 1, failures
        assert all(f.started < dead_at for f in failures), failures
        after = [o for o in fresh.outcomes if o.started > dead_at]
        assert after and all(o.ok for o in after)
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


def test_sigterm_lets_a_slow_request_finish_then_exits_0(app_dir: Path) -> None:
    with Supervised(app_dir, "--workers", "2", "--timeout-graceful", "10") as porch:
        porch.ready(2)
        with fresh_connection(porch.http_port, "/slow?delay=1") as slow:
            porch.line("SLOW-STARTED")
            porch.signal(signal.SIGTERM)
            porch.line("SIGTERM: stopping the workers gracefully")
            status, _, body = read_response(slow, DEADLINE)
        assert (status, body) == (200, b"slow done")
        assert porch.finish(DEADLINE) == 0
    assert not any("Killing" in line for line in porch.lines["stderr"])


def test_max_requests_recycles_workers_without_a_failure(app_dir: Path) -> None:
    args = ("--workers", "2", "--max-requests", "30", "--max-requests-jitter", "10")
    with Supervised(app_dir, *args) as porch:
        old = set(porch.ready(2))
        with load(porch.http_port) as loads:
            # Three recycles, each under load: each worker recycles at least once.
            porch.line(r"Worker \d+ stopped \(exit code 0\)", count=3)
            assert len(porch.matches(r"Replacing worker \d+ \(max requests\)")) >= 3
            wait_until(
                lambda: set().union(*(one.pids() for one in loads)) - old, "new workers serve"
            )
        for one in loads:
            assert one.failures() == [], porch.transcript()
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


def test_a_stuck_worker_has_its_stack_dumped_and_is_replaced(app_dir: Path) -> None:
    with Supervised(app_dir, "--workers", "2", "--timeout-worker", "2") as porch:
        porch.ready(2)
        since = porch.mark()
        with fresh_connection(porch.http_port, "/block"):
            stuck = int(porch.line(r"Worker (\d+) is stuck", since).group(1))
            porch.line(r"line \d+ in block_the_event_loop", since)
            porch.line(rf"Worker {stuck} died unexpectedly \(SIGKILL\)", since)
            (replacement,) = porch.ready(1, since)
        assert replacement != stuck
        assert porch.get()[0] == 200
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


def test_an_app_that_cannot_start_makes_the_supervisor_give_up(tmp_path: Path) -> None:
    (tmp_path / "wapp.py").write_text("raise RuntimeError('broken at import')\n")
    with Supervised(tmp_path, "--workers", "2") as porch:
        code = porch.finish(DEADLINE)
    assert code == 1
    errors = "\n".join(porch.lines["stderr"])
    assert "broken at import" in errors
    assert "The app does not start in a worker" in errors
    assert errors.count("Started worker") == 2  # no retry loop


def test_sigttin_and_sigttou_change_the_number_of_workers(app_dir: Path) -> None:
    with Supervised(app_dir, "--workers", "1", "--max-requests", "1000000") as porch:
        (first,) = porch.ready(1)
        since = porch.mark()
        porch.signal(signal.SIGTTIN)
        (second,) = porch.ready(1, since)
        porch.signal(signal.SIGTTOU)
        porch.line(r"Stopping worker \d+ \(fewer workers wanted\)", since)
        porch.line(r"Worker \d+ stopped \(exit code 0\)", since)
        assert porch.get()[0] == 200
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0
    assert first != second


def fresh_connection(port: int, target: str) -> socket.socket:
    """A new connection with one GET sent, its response not read yet."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    return sock


def test_workers_dying_young_are_restarted_with_growing_back_off(app_dir: Path) -> None:
    with Supervised(app_dir, "--workers", "2") as porch:
        porch.ready(2)
        waits = []
        for _ in range(2):
            since = porch.mark()
            with contextlib.suppress(OSError, AssertionError):
                fresh_get(porch.http_port, "/exit")  # the worker exits without answering
            porch.line(r"Worker \d+ died unexpectedly \(exit code 3\)", since)
            waits.append(float(porch.line(r"waiting ([\d.]+) s", since).group(1)))
            porch.ready(1, since)
        assert waits[1] == 2 * waits[0] > 0
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


def test_a_worker_over_its_memory_limit_is_replaced_without_a_failure(app_dir: Path) -> None:
    with Supervised(app_dir, "--workers", "2", "--limit-worker-memory", "1") as porch:
        old = porch.ready(2)
        with load(porch.http_port) as loads:
            porch.line(rf"Worker {old[0]} uses \d+ MiB \(--limit-worker-memory 1\)")
            porch.line(rf"Stopping worker {old[0]} \(replaced by \d+\)")
            porch.line(rf"Worker {old[0]} stopped \(exit code 0\)")
        for one in loads:
            assert one.failures() == [], porch.transcript()
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


def test_a_second_sigterm_cuts_the_drain_short(app_dir: Path) -> None:
    with Supervised(app_dir, "--workers", "2", "--timeout-graceful", "60") as porch:
        porch.ready(2)
        with fresh_connection(porch.http_port, "/slow?delay=60") as slow:
            porch.line("SLOW-STARTED")
            porch.signal(signal.SIGTERM)
            porch.line("SIGTERM: stopping the workers gracefully")
            porch.signal(signal.SIGTERM)
            porch.line("Second SIGTERM: the workers close every connection now")
            assert porch.finish(DEADLINE) == 0  # long before the 60 s of grace
            assert recv_all(slow, DEADLINE) == b""  # cut off, not answered


def test_zero_workers_means_one_per_core(app_dir: Path) -> None:
    cores = os.cpu_count() or 1
    with Supervised(app_dir, "--workers", "0") as porch:
        assert len(set(porch.ready(cores))) == cores
        porch.line(rf"listening on .* with {cores} workers")
        porch.signal(signal.SIGINT)
        assert porch.finish(DEADLINE) == 0


def test_workers_share_a_unix_socket_removed_at_exit(app_dir: Path) -> None:
    path = app_dir / "porch.sock"
    # Set in pyproject.toml: the workers, which read it too, must still use the given socket.
    (app_dir / "pyproject.toml").write_text(f'[tool.porch]\nuds = "{path}"\nworkers = 2\n')
    args = ("serve", "wapp:app", "--app-dir", str(app_dir))
    with PorchProcess(*args) as porch:
        porch.wait_for(rf"porch supervisor \(pid \d+\) listening on unix:{path} ")
        porch.wait_for(r"Worker \d+ ready")
        porch.wait_for(r"Worker \d+ ready")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(DEADLINE)
            sock.connect(str(path))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            status, _, body = read_response(sock, DEADLINE)
        assert status == 200 and body.endswith(b" v1")
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0
    assert not path.exists()


def test_workers_stop_when_the_supervisor_is_killed(app_dir: Path) -> None:
    with Supervised(app_dir, "--workers", "2") as porch:
        workers = porch.ready(2)
        porch.proc.kill()
        porch.finish(DEADLINE)
        wait_until(lambda: not any(alive(pid) for pid in workers), "the orphans exit")
        wait_until(lambda: len(porch.matches("The supervisor is gone: stopping")) == 2, "logs")


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting to be reaped does not count)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_sighup_with_code_that_does_not_start_keeps_the_old_workers(app_dir: Path) -> None:
    with Supervised(app_dir, "--workers", "2") as porch:
        old = porch.ready(2)
        since = porch.mark()
        (app_dir / "wapp.py").write_text("raise RuntimeError('bad deploy')\n")
        porch.signal(signal.SIGHUP)
        porch.line(r"Reload abandoned: the new workers do not start", since)
        assert porch.matches("bad deploy", since)
        status, body = porch.get()
        assert status == 200 and int(body.split()[0]) in old
        since = porch.mark()
        write_app(app_dir, version="v2-good-deploy")
        porch.signal(signal.SIGHUP)
        new = porch.ready(2, since)
        for pid in old:
            porch.line(rf"Worker {pid} stopped \(exit code 0\)", since)
        status, body = porch.get()
        assert body.decode().endswith("v2-good-deploy") and int(body.split()[0]) in new
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


def test_workers_host_an_asgi_app(tmp_path: Path) -> None:
    (tmp_path / "wapp.py").write_text(
        "import os\n\n"
        "async def app(scope, receive, send):\n"
        "    assert scope['type'] == 'http'\n"
        "    body = f'{os.getpid()} asgi'.encode()\n"
        "    await send({'type': 'http.response.start', 'status': 200,\n"
        "                'headers': [(b'content-type', b'text/plain')]})\n"
        "    await send({'type': 'http.response.body', 'body': body})\n"
    )
    args = ("--workers", "2", "--lifespan", "off")
    with Supervised(tmp_path, *args) as porch:
        workers = porch.ready(2)
        status, body = porch.get()
        assert status == 200 and body.endswith(b" asgi") and int(body.split()[0]) in workers
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


def test_workers_get_the_apps_own_porch_variables(tmp_path: Path) -> None:
    # Server settings are passed to workers as PORCH_*; the app's own PORCH_SECRET_KEY and
    # PORCH_DATABASE_URL must reach them too (a porch.App in production needs its key).
    (tmp_path / "wapp.py").write_text(
        "import os\n\n"
        "async def app(scope, receive, send):\n"
        "    body = ' '.join(os.environ.get(n, '-') for n in ('PORCH_SECRET_KEY',\n"
        "                    'PORCH_DATABASE_URL')).encode()\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': body})\n"
    )
    key = "k" * 40
    app_env = {"PORCH_SECRET_KEY": key, "PORCH_DATABASE_URL": "sqlite:///app.db"}
    with Supervised(tmp_path, "--workers", "2", "--lifespan", "off", env=app_env) as porch:
        porch.ready(2)
        assert porch.get() == (200, f"{key} sqlite:///app.db".encode())
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


def test_workers_serve_tls_with_a_key_password(app_dir: Path) -> None:
    from tests.server.test_tls import Pki

    pki = Pki(app_dir)
    tls = ("--ssl-certfile", pki.cert, "--ssl-keyfile", pki.encrypted_key)
    password = ("--ssl-keyfile-password", "s3cret")
    with Supervised(app_dir, "--workers", "2", *tls, *password) as porch:
        porch.line(r"listening on https://127\.0\.0\.1:\d+ with 2 workers")
        workers = porch.ready(2)
        url = f"https://127.0.0.1:{porch.http_port}/"
        response = httpx.get(url, verify=pki.client_context(), timeout=DEADLINE)
        assert response.status_code == 200 and int(response.text.split()[0]) in workers
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


def test_metrics_add_up_across_workers_and_count_restarts(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.server.test_metrics import parse, value

    metrics_dir = app_dir / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    (metrics_dir).mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"")  # an earlier run's: emptied at start
    with Supervised(app_dir, "--workers", "2", "--metrics-path", "/metrics") as porch:
        first, _ = porch.ready(2)
        assert not (metrics_dir / "counter_999999.db").exists()
        for _ in range(10):
            assert porch.get()[0] == 200

        def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
            status, body = porch.get("/metrics")
            assert status == 200
            return parse(body.decode())

        def answered() -> float:
            return value(scrape(), "porch_requests_total", method="GET", status="200")

        # Each worker hands its counts to the shared files once a second; any scrape sums.
        wait_until(lambda: answered() >= 10, "the workers' counts add up")
        since = porch.mark()
        os.kill(first, signal.SIGKILL)
        porch.ready(1, since)
        wait_until(lambda: value(scrape(), "porch_worker_restarts_total") == 1, "a restart")
        porch.signal(signal.SIGTERM)
        assert porch.finish(DEADLINE) == 0


def test_a_crash_loop_ends_with_a_clear_error_not_forever(tmp_path: Path) -> None:
    # The code starts once, then every fresh worker fails at import (a bad deploy on disk).
    (tmp_path / "wapp.py").write_text(
        "import os, pathlib\n"
        "from porch import Response\n\n"
        "if pathlib.Path(__file__).with_name('broken').exists():\n"
        "    raise RuntimeError('cannot start any more')\n\n"
        "async def app(request):\n"
        "    return Response(str(os.getpid()).encode())\n"
    )
    with Supervised(tmp_path, "--workers", "1", "--max-requests", "1000000") as porch:
        (worker,) = porch.ready(1)
        (tmp_path / "broken").touch()
        os.kill(worker, signal.SIGKILL)
        assert porch.finish(60) == 1
    errors = "\n".join(porch.lines["stderr"])
    assert errors.count("failed to start (exit code 1)") == 5
    assert "The app does not start in a worker (see the error above): giving up" in errors
    assert errors.count("Workers keep dying: waiting") == 5  # 0.5, 1, 2, 4, 8 s
