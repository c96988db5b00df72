"""What to benchmark: servers, scenarios and suites, as plain data.

A new suite (static files, framework, ASGI/WSGI hosting, workers, ...) is a new
``Suite`` entry in ``SUITES`` plus, if needed, new ``Server`` entries in
``SERVERS``; the runner in bench.py needs no change.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
REFERENCE = "porch"  # the server every ratio is computed against


@dataclass(frozen=True)
class Launch:
    """Everything a server command factory may need for one start."""

    port: int
    workdir: Path  # a fresh temp dir, removed after the server stops
    path: str  # the scenario's request path, e.g. "/json"


@dataclass(frozen=True)
class Server:
    name: str
    description: str
    command: Callable[[Launch], list[str]]
    cwd: Path = REPO_DIR


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    servers: tuple[str, ...]
    pipeline: int = 1  # requests per write; >1 uses bench/pipeline.lua
    check: Callable[[bytes], bool] | None = None  # validates the body once


@dataclass(frozen=True)
class Target:
    """Informational goal: porch req/s >= ratio x peer req/s."""

    scenario: str
    peer: str
    ratio: float


@dataclass(frozen=True)
class Suite:
    name: str
    scenarios: tuple[Scenario, ...]
    targets: tuple[Target, ...] = ()


def body_is(expected: bytes) -> Callable[[bytes], bool]:
    return lambda body: body == expected


def json_is(expected: object) -> Callable[[bytes], bool]:
    def check(body: bytes) -> bool:
        try:
            return bool(json.loads(body) == expected)
        except ValueError:
            return False

    return check


# --- servers -----------------------------------------------------------------


def _porch(launch: Launch) -> list[str]:
    return [
        sys.executable,
        "-m",
        "porch",
        "serve",
        "bench.apps.porch_native:app",
        "--port",
        str(launch.port),
        "--no-access-log",
    ]


def _uvicorn(launch: Launch) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.apps.asgi_bare:app",
        "--port",
        str(launch.port),
        "--no-access-log",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
    ]


_NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    keepalive_timeout 65;
    keepalive_requests 10000000;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /plaintext {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
        location = /json {{
            default_type application/json;
            return 200 '{{"message":"Hello, World!"}}';
        }}
    }}
}}
"""


def _nginx(launch: Launch) -> list[str]:
    conf = launch.workdir / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(dir=launch.workdir, port=launch.port))
    # -e keeps nginx from touching the system error log before it reads conf.
    return [
        shutil.which("nginx") or "/usr/sbin/nginx",
        "-p",
        str(launch.workdir),
        "-e",
        str(launch.workdir / "error.log"),
        "-c",
        str(conf),
    ]


def _raw(launch: Launch) -> list[str]:
    kind = "json" if launch.path == "/json" else "plaintext"
    script = BENCH_DIR / "apps" / "raw_protocol.py"
    return [sys.executable, str(script), str(launch.port), kind]


SERVERS: dict[str, Server] = {
    s.name: s
    for s in (
        Server("porch", "porch, native app (bench/apps/porch_native.py)", _porch),
        Server(
            "uvicorn",
            "uvicorn + httptools + uvloop, bare ASGI app (bench/apps/asgi_bare.py)",
            _uvicorn,
        ),
        Server("nginx", "nginx, 1 process, `return 200` from config", _nginx),
        Server(
            "raw",
            "asyncio Protocol on uvloop, no parsing (bench/apps/raw_protocol.py)",
            _raw,
        ),
    )
}

# --- suites ------------------------------------------------------------------

_HELLO = body_is(b"Hello, World!")
_MESSAGE = json_is({"message": "Hello, World!"})
_ALL = ("porch", "uvicorn", "nginx", "raw")

SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite(
            "server",
            scenarios=(
                Scenario("plaintext", "/plaintext", _ALL, check=_HELLO),
                Scenario("json", "/json", _ALL, check=_MESSAGE),
                Scenario("plaintext-pipelined", "/plaintext", _ALL, 16, _HELLO),
                Scenario("json-pipelined", "/json", _ALL, 16, _MESSAGE),
            ),
            targets=(
                Target("plaintext", "uvicorn", 1.8),
                Target("json", "uvicorn", 1.8),
                Target("plaintext-pipelined", "nginx", 1.0),
                Target("json-pipelined", "nginx", 1.0),
            ),
        ),
    )
}
