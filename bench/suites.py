"""What to benchmark: servers, scenarios and suites, as plain data.

A new suite (static files, framework, ASGI/WSGI hosting, workers, ...) is a new
``Suite`` entry in ``SUITES`` plus, if needed, new ``Server`` entries in
``SERVERS``; the runner in bench.py needs no change.
"""

from __future__ import annotations

import functools
import json
import random
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
    workers: int = 1  # processes the server should run (suite `workers`)


@dataclass(frozen=True)
class Server:
    name: str
    description: str
    command: Callable[[Launch], list[str]]
    cwd: Path = REPO_DIR


@dataclass(frozen=True)
class Probe:
    """One extra request made once after the server is ready and before it is measured:
    `GET path` must answer `status`, with a body that `check` accepts when it is set."""

    path: str
    status: int
    check: Callable[[bytes], bool] | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    servers: tuple[str, ...]
    pipeline: int = 1  # requests per write; >1 uses bench/pipeline.lua
    check: Callable[[bytes], bool] | None = None  # validates the body once
    connections: int | None = None  # wrk -c; None: the default (loadgen.CONNECTIONS)
    probes: tuple[Probe, ...] = ()  # checked once per start, before the warm-up
    content_type: str | None = None  # the first response's media type must be this
    workers: int = 1  # >1: each server runs that many processes, not pinned to one core
    client: str = "wrk"  # "ws": WebSocket echo messages with bench/ws_client.py


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
    setup: Callable[[], None] | None = None  # run once before the suite (e.g. seed a database)


def body_is(expected: bytes) -> Callable[[bytes], bool]:
    return lambda body: body == expected


def json_is(expected: object) -> Callable[[bytes], bool]:
    def check(body: bytes) -> bool:
        try:
            return bool(json.loads(body) == expected)
        except ValueError:
            return False

    return check


# --- the static suite's files -------------------------------------------------

STATIC_FILES = {"/1k.bin": 1024, "/10m.bin": 10 * 1024 * 1024}  # request path -> size
STATIC_SEED = 20261125


@functools.cache
def static_bytes(path: str) -> bytes:
    """The content served at `path`: random bytes (incompressible), the same in every run."""
    return random.Random(STATIC_SEED + STATIC_FILES[path]).randbytes(STATIC_FILES[path])


def static_root(launch: Launch) -> Path:
    """Write the static suite's files into a new folder in this start's temp dir."""
    root = launch.workdir / "www"
    root.mkdir()
    for path in STATIC_FILES:
        (root / path.lstrip("/")).write_bytes(static_bytes(path))
    return root


def static_body(path: str) -> Callable[[bytes], bool]:
    return lambda body: body == static_bytes(path)  # lazy: no 10 MiB at import


def _static(launch: Launch) -> bool:
    """Whether this start serves the static suite (the same server names serve both suites,
    so that ratios and targets compare with `porch` and `nginx` in each)."""
    return launch.path in STATIC_FILES


# --- the framework suite -------------------------------------------------------

FRAMEWORK_PATH = "/users/42?limit=5"


def _user(id: int, limit: int) -> Callable[[bytes], bool]:
    return json_is({"id": id, "limit": limit, "name": f"user-{id}"})


# Every framework server must type, default and validate the same way before it is measured.
FRAMEWORK_PROBES = (
    Probe("/users/7", 200, _user(7, 10)),  # limit defaults to 10
    Probe("/users/7?limit=100", 200, _user(7, 100)),
    Probe("/users/7?limit=0", 422),
    Probe("/users/7?limit=101", 422),
    Probe("/users/7?limit=ten", 422),
)


def _framework(launch: Launch) -> bool:
    return launch.path.startswith("/users/")


# --- the hosting suite -----------------------------------------------------------


@dataclass(frozen=True)
class Hosted:
    """An ASGI or WSGI app that every server of the `hosting` suite runs unmodified."""

    target: str  # module:attribute, imported from the repo root
    interface: str  # "asgi3" or "wsgi", as porch's --interface spells it


# Each scenario's path starts with its app's prefix, so one server name (porch, uvicorn)
# starts the right app in every suite.
HOSTED = {
    "/asgi/": Hosted("bench.apps.asgi_bare:app", "asgi3"),
    "/fastapi/": Hosted("bench.apps.fastapi_plain:app", "asgi3"),
    "/wsgi/": Hosted("bench.apps.wsgi_plain:app", "wsgi"),
    "/flask/": Hosted("bench.apps.flask_app:app", "wsgi"),
}
GUNICORN_THREADS = 8  # gunicorn gthread's --threads


def hosted(launch: Launch) -> Hosted | None:
    """The app this start of the `hosting` suite serves; None in the other suites."""
    for prefix, app in HOSTED.items():
        if launch.path.startswith(prefix):
            return app
    return None


def _hosted(launch: Launch, interface: str) -> Hosted:
    app = hosted(launch)
    if app is None or app.interface != interface:
        raise ValueError(f"no {interface} app for {launch.path}")  # a suite definition bug
    return app


# --- the db suite ------------------------------------------------------------------

DB_PATHS = ("/db", "/queries?", "/fortunes", "/updates?")


def _db(launch: Launch) -> bool:
    return launch.path.startswith(DB_PATHS)


def _seed_db() -> None:
    """Seed PostgreSQL once before the suite (bench/apps/db_common.py says where)."""
    import subprocess

    subprocess.run([sys.executable, "-m", "bench.apps.db_common"], cwd=REPO_DIR, check=True)


def _world(body: bytes) -> bool:
    item = json.loads(body)
    return isinstance(item, dict) and set(item) == {"id", "randomNumber"}


def _worlds(n: int) -> Callable[[bytes], bool]:
    def check(body: bytes) -> bool:
        items = json.loads(body)
        return len(items) == n and all(_world(json.dumps(i).encode()) for i in items)

    return check


def _fortunes(body: bytes) -> bool:
    return b"&lt;script&gt;" in body and b"Additional fortune added at request time." in body


DB_PROBES = (Probe("/queries?queries=foo", 200, _worlds(1)), Probe("/queries?queries=0", 200))


# --- servers -----------------------------------------------------------------


# --- the websocket suite ----------------------------------------------------------

# Scenario path -> (porch's app and its --interface, uvicorn's app).
WS_APPS = {
    "/ws/echo": (("bench.apps.ws_echo:native", "porch"), "bench.apps.ws_echo:asgi"),
    "/ws/asgi": (("bench.apps.ws_echo:asgi", "asgi3"), "bench.apps.ws_echo:asgi"),
}


def _porch(launch: Launch) -> list[str]:
    ws = WS_APPS.get(launch.path.split("?")[0])
    if ws is not None:
        (target, interface), _ = ws
        port = ["--port", str(launch.port)]
        return [
            sys.executable,
            "-m",
            "porch",
            "serve",
            target,
            "--interface",
            interface,
            *port,
            "--no-access-log",
        ]
    if _static(launch):
        app = ["static", str(static_root(launch))]
    elif _framework(launch):
        app = ["serve", "bench.apps.porch_framework:app"]
    elif launch.path.startswith("/cache/"):
        app = ["serve", "bench.apps.porch_cache:app"]
    elif _db(launch):
        app = ["serve", "bench.apps.porch_db:app"]
    elif hosting := hosted(launch):
        app = ["serve", hosting.target, "--interface", hosting.interface]
    else:
        app = ["serve", "bench.apps.porch_native:app"]
    workers = ["--workers", str(launch.workers)] if launch.workers > 1 else []
    port = ["--port", str(launch.port)]
    return [sys.executable, "-m", "porch", *app, *port, "--no-access-log", *workers]


def _uvicorn(launch: Launch, app: str = "bench.apps.asgi_bare:app") -> list[str]:
    if hosted(launch):
        app = _hosted(launch, "asgi3").target
    ws = WS_APPS.get(launch.path)
    ws_impl = []
    if ws is not None:  # uvicorn's `websockets` implementation, as porch's library
        app, ws_impl = ws[1], ["--ws", "websockets"]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--port",
        str(launch.port),
        "--no-access-log",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        *ws_impl,
        "--log-level",
        "warning",
        *(["--workers", str(launch.workers)] if launch.workers > 1 else []),
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
{site}
    }}
}}
"""
_NGINX_RETURN = """\
        location = /plaintext {
            default_type text/plain;
            return 200 "Hello, World!";
        }
        location = /json {
            default_type application/json;
            return 200 '{"message":"Hello, World!"}';
        }"""
_NGINX_STATIC = """\
        root {root};
        sendfile on;"""


def _nginx(launch: Launch) -> list[str]:
    conf = launch.workdir / "nginx.conf"
    if _static(launch):
        site = _NGINX_STATIC.format(root=static_root(launch))
    else:
        site = _NGINX_RETURN
    conf.write_text(_NGINX_CONF.format(dir=launch.workdir, port=launch.port, site=site))
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


def _http_server(launch: Launch) -> list[str]:
    root = str(static_root(launch))
    port = str(launch.port)
    return [sys.executable, "-m", "http.server", port, "--directory", root, "--bind", "127.0.0.1"]


def _aiohttp_static(launch: Launch) -> list[str]:
    script = BENCH_DIR / "apps" / "aiohttp_static.py"
    return [sys.executable, str(script), str(launch.port), str(static_root(launch))]


def _fastapi(launch: Launch) -> list[str]:
    if _db(launch):
        return _uvicorn(launch, "bench.apps.fastapi_db:app")
    return _uvicorn(launch, "bench.apps.fastapi_app:app")


def _starlette(launch: Launch) -> list[str]:
    return _uvicorn(launch, "bench.apps.starlette_app:app")


def _sanic(launch: Launch) -> list[str]:
    # --single-process: the app runs in the process we start (no worker manager), on uvloop.
    return [
        sys.executable,
        "-m",
        "sanic",
        "bench.apps.sanic_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(launch.port),
        "--single-process",
        "--no-access-logs",
        "--no-motd",
    ]


def _granian(launch: Launch) -> list[str]:
    app = hosted(launch)
    if app is None:
        raise ValueError(f"granian serves the hosting suite only, not {launch.path}")
    # One worker process with one runtime thread (single-threaded Rust runtime), uvloop.
    # WSGI calls run on granian's blocking threads: as many as gunicorn gthread's threads
    # (its default, half its backpressure, is 512 threads contending for one GIL).
    threads = ["--blocking-threads", str(GUNICORN_THREADS)] if app.interface == "wsgi" else []
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi" if app.interface == "asgi3" else "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(launch.port),
        "--workers",
        "1",
        "--runtime-threads",
        "1",
        *threads,
        "--loop",
        "uvloop",
        "--no-access-log",
        "--log-level",
        "warning",
        app.target,
    ]


def _gunicorn(launch: Launch, *worker: str, target: str | None = None) -> list[str]:
    # launch.workers processes (one but in suite `workers`) plus gunicorn's arbiter; access
    # log off (its default).
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{launch.port}",
        "--workers",
        str(launch.workers),
        *worker,
        "--log-level",
        "warning",
        target or _hosted(launch, "wsgi").target,
    ]


def _gunicorn_sync(launch: Launch) -> list[str]:
    return _gunicorn(launch, "--worker-class", "sync")


def _gunicorn_gthread(launch: Launch) -> list[str]:
    return _gunicorn(launch, "--worker-class", "gthread", "--threads", str(GUNICORN_THREADS))


def _gunicorn_uvicorn(launch: Launch) -> list[str]:
    # uvicorn's worker class picks uvloop and httptools when they are installed (they are).
    worker = ("--worker-class", "uvicorn.workers.UvicornWorker")
    return _gunicorn(launch, *worker, target="bench.apps.asgi_bare:app")


def _raw(launch: Launch) -> list[str]:
    kind = "json" if launch.path == "/json" else "plaintext"
    script = BENCH_DIR / "apps" / "raw_protocol.py"
    return [sys.executable, str(script), str(launch.port), kind]


SERVERS: dict[str, Server] = {
    s.name: s
    for s in (
        Server(
            "porch",
            "porch, native app (bench/apps/porch_native.py); suite `static`: `porch static DIR`; "
            "suite `framework`: `porch.App` (bench/apps/porch_framework.py); "
            "suite `hosting`: `porch serve APP --interface asgi3|wsgi`; "
            "suite `db`: examples/techempower on porch.db (bench/apps/porch_db.py)",
            _porch,
        ),
        Server(
            "uvicorn",
            "uvicorn + httptools + uvloop, bare ASGI app (bench/apps/asgi_bare.py); "
            "suite `hosting`: the scenario's ASGI app",
            _uvicorn,
        ),
        Server(
            "gunicorn-uvicorn",
            "gunicorn with uvicorn workers (uvicorn.workers.UvicornWorker), bare ASGI app "
            "(suite `workers`)",
            _gunicorn_uvicorn,
        ),
        Server(
            "nginx",
            "nginx, 1 process, `return 200` from config; "
            "suite `static`: `root DIR`, `sendfile on`",
            _nginx,
        ),
        Server(
            "raw",
            "asyncio Protocol on uvloop, no parsing (bench/apps/raw_protocol.py)",
            _raw,
        ),
        Server(
            "http.server",
            "`python -m http.server` (stdlib; logs every request to stderr)",
            _http_server,
        ),
        Server(
            "aiohttp",
            "aiohttp `web.static`, default asyncio loop (bench/apps/aiohttp_static.py)",
            _aiohttp_static,
        ),
        Server(
            "fastapi",
            "FastAPI on uvicorn + httptools + uvloop, `Query(ge=1, le=100)` "
            "(bench/apps/fastapi_app.py); suite `db`: SQLAlchemy async + asyncpg, a session "
            "per request from Depends (bench/apps/fastapi_db.py)",
            _fastapi,
        ),
        Server(
            "starlette",
            "Starlette on uvicorn + httptools + uvloop, `limit` checked by hand "
            "(bench/apps/starlette_app.py)",
            _starlette,
        ),
        Server(
            "sanic",
            "Sanic, `--single-process` on uvloop, `limit` checked by hand "
            "(bench/apps/sanic_app.py)",
            _sanic,
        ),
        Server(
            "granian",
            "granian, 1 worker, 1 runtime thread, uvloop, `--interface asgi|wsgi` "
            f"(WSGI: {GUNICORN_THREADS} blocking threads)",
            _granian,
        ),
        Server(
            "gunicorn-sync",
            "gunicorn, 1 sync worker (no keep-alive: a new connection per request)",
            _gunicorn_sync,
        ),
        Server(
            "gunicorn-gthread",
            f"gunicorn, 1 gthread worker with {GUNICORN_THREADS} threads (keep-alive on)",
            _gunicorn_gthread,
        ),
    )
}

# --- the cache suite ---------------------------------------------------------------

# The same JSON as every path of bench/apps/porch_cache.py answers (computed once here).
_PRIMES = json_is(
    {
        "count": 2262,
        "sum": 21171191,
        "last": [19927, 19937, 19949, 19961, 19963, 19973, 19979, 19991, 19993, 19997],
    }
)

# --- suites ------------------------------------------------------------------

_HELLO = body_is(b"Hello, World!")
_MESSAGE = json_is({"message": "Hello, World!"})
_ALL = ("porch", "uvicorn", "nginx", "raw")
_STATIC = ("porch", "http.server", "aiohttp", "nginx")
_FRAMEWORK = ("porch", "fastapi", "starlette", "sanic")
_ASGI = ("porch", "uvicorn", "granian")
_WSGI = ("porch", "gunicorn-sync", "gunicorn-gthread", "granian")
_TEXT = "text/plain"
_WORKERS = ("porch", "uvicorn", "gunicorn-uvicorn")

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
        Suite(
            "static",
            scenarios=tuple(
                Scenario(name, path, _STATIC, check=static_body(path), connections=16)
                for name, path in (("static-1k", "/1k.bin"), ("static-10m", "/10m.bin"))
            ),
            targets=(
                Target("static-1k", "nginx", 0.5),
                Target("static-10m", "nginx", 0.9),
            ),
        ),
        Suite(
            "framework",
            scenarios=(
                Scenario(
                    "typed-json",
                    FRAMEWORK_PATH,
                    _FRAMEWORK,
                    check=_user(42, 5),
                    probes=FRAMEWORK_PROBES,
                    content_type="application/json",
                ),
            ),
            targets=(
                Target("typed-json", "fastapi", 4.0),
                Target("typed-json", "sanic", 1.5),
                Target("typed-json", "starlette", 1.3),
            ),
        ),
        Suite(
            "hosting",
            scenarios=(
                Scenario(
                    "asgi-plaintext", "/asgi/plaintext", _ASGI, check=_HELLO, content_type=_TEXT
                ),
                Scenario(
                    "wsgi-plaintext", "/wsgi/plaintext", _WSGI, check=_HELLO, content_type=_TEXT
                ),
                # Informational: the framework's own cost dominates these two.
                Scenario(
                    "fastapi-plaintext",
                    "/fastapi/plaintext",
                    _ASGI,
                    check=_HELLO,
                    content_type=_TEXT,
                ),
                Scenario(
                    "flask-plaintext",
                    "/flask/plaintext",
                    ("porch", "gunicorn-gthread", "granian"),
                    check=_HELLO,
                    content_type=_TEXT,
                ),
            ),
            targets=(
                Target("asgi-plaintext", "uvicorn", 1.3),
                Target("wsgi-plaintext", "gunicorn-sync", 3.0),
            ),
        ),
        Suite(
            "websocket",
            scenarios=(
                # porch's native route vs uvicorn + websockets running a bare ASGI echo
                Scenario("ws-echo", "/ws/echo", ("porch", "uvicorn"), client="ws"),
                # the same bare ASGI echo on both servers
                Scenario("ws-asgi-echo", "/ws/asgi", ("porch", "uvicorn"), client="ws"),
            ),
            targets=(Target("ws-echo", "uvicorn", 1.3),),
        ),
        Suite(
            # Scenario against scenario on porch alone: a cached endpoint against the same
            # work uncached, and porch's in-process cache against Redis (needs Redis up).
            "cache",
            scenarios=(
                Scenario("uncached", "/cache/work", ("porch",), check=_PRIMES),
                Scenario("cached-memory", "/cache/memory", ("porch",), check=_PRIMES),
                Scenario("cached-redis", "/cache/redis", ("porch",), check=_PRIMES),
            ),
        ),
        Suite(
            "db",
            scenarios=(
                Scenario("db", "/db", ("porch", "fastapi"), check=_world, probes=DB_PROBES),
                Scenario(
                    "queries-20", "/queries?queries=20", ("porch", "fastapi"), check=_worlds(20)
                ),
                Scenario("fortunes", "/fortunes", ("porch", "fastapi"), check=_fortunes),
                Scenario(
                    "updates-20", "/updates?queries=20", ("porch", "fastapi"), check=_worlds(20)
                ),
            ),
            targets=tuple(
                Target(name, "fastapi", 1.5)
                for name in ("db", "queries-20", "fortunes", "updates-20")
            ),
            setup=_seed_db,
        ),
        Suite(
            "workers",
            scenarios=(
                Scenario("plaintext-2-workers", "/plaintext", _WORKERS, check=_HELLO, workers=2),
            ),
            targets=(Target("plaintext-2-workers", "uvicorn", 1.3),),
        ),
    )
}
