"""The ``porch`` command line (and ``python -m porch``), run as real subprocesses."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from porch.config import ENV_PREFIX, Config
from tests.conftest import recv_all
from tests.server.test_lifecycle import DEADLINE, ROOT, PorchProcess, get

pytestmark = pytest.mark.timeout(45)

APP = "tests.apps.lifecycle:app"
PYTHON_M_PORCH = [sys.executable, "-m", "porch"]
_script = Path(sys.executable).with_name("porch")
PORCH_SCRIPT = [str(_script) if _script.exists() else shutil.which("porch") or "porch"]
COMBINED_LOG = re.compile(
    r"127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<size>\d+) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)"'
)


def run_porch(
    *args: str, env: dict[str, str] | None = None, command: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run porch to completion (it must exit by itself) with a clean ``PORCH_*`` environment."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    child_env.update(env or {})
    return subprocess.run(
        [*(command or PYTHON_M_PORCH), *args],
        cwd=ROOT,
        env=child_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit code != 0, nothing on stdout, and stderr is one ``Error: ...`` line."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("Error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other socket listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def stop(porch: PorchProcess) -> None:
    porch.signal(signal.SIGTERM)
    assert porch.finish() == 0, porch.transcript()


# --- help -----------------------------------------------------------------------------------


def test_top_level_help() -> None:
    result = run_porch("--help", command=PORCH_SCRIPT)
    assert result.returncode == 0, result.stderr
    assert "Usage: porch [OPTIONS] COMMAND" in result.stdout
    assert re.search(r"^\s+serve\s+Serve APP", result.stdout, re.M)
    assert "--version" in result.stdout
    version = run_porch("--version", command=PORCH_SCRIPT)
    assert version.returncode == 0
    assert version.stdout.strip() == "porch, version 0.1.0"


def test_serve_help_lists_every_config_field() -> None:
    result = run_porch("serve", "--help", command=PORCH_SCRIPT)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # undo click's wrapping
    for f in dataclasses.fields(Config):
        flag = "--" + f.name.replace("_", "-")
        assert re.search(rf"(?<![\w-]){re.escape(flag)}\b", text), flag
        assert f.metadata["help"] in text, (flag, f.metadata["help"])
        assert f"env: {ENV_PREFIX}{f.name.upper()}]" in text, flag
    for expected in [
        "--limit-body-size INTEGER Largest request body in bytes (else 413). "
        "[default: 10485760; env: PORCH_LIMIT_BODY_SIZE]",
        "--timeout-keep-alive FLOAT Seconds an idle keep-alive connection stays open. "
        "[default: 5.0; env: PORCH_TIMEOUT_KEEP_ALIVE]",
        "--access-log / --no-access-log Log each request",
        "[default: True; env: PORCH_ACCESS_LOG]",
        "--uds TEXT Bind a UNIX domain socket at this path instead of TCP. "
        "[default: none; env: PORCH_UDS]",
        "--fd INTEGER Serve on an inherited, already bound socket (file descriptor). "
        "[default: none; env: PORCH_FD]",
        "-p, --port INTEGER",
        "--app-dir TEXT",
    ]:
        assert expected in text, expected
    # python -m porch is the same program
    assert run_porch("serve", "--help").stdout == result.stdout


# --- serving ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [PORCH_SCRIPT, PYTHON_M_PORCH], ids=["porch", "python-m"])
def test_serve_runs_the_app(command: list[str]) -> None:
    with PorchProcess("serve", APP, "--port", "0", command=command) as porch:
        port = porch.port()
        assert get(port, "/")[::2] == (200, b"hello")
        stop(porch)


@pytest.mark.parametrize(
    ("args", "path", "body"),
    [
        (["tests.apps.lifecycle:asgi_app"], "/p", b"asgi /p"),
        (["tests.apps.lifecycle:wsgi_app"], "/p", b"wsgi |/p"),
        (["tests.apps.lifecycle:wsgi_app", "--root-path", "/m"], "/m/p", b"wsgi /m|/p"),
        (["tests.apps.lifecycle:wsgi_app", "--root-path", "/m"], "/p", b"wsgi /m|/p"),
        (["tests.apps.lifecycle:wsgi_app", "--interface", "wsgi"], "/x", b"wsgi |/x"),
        (["tests.apps.lifecycle:undetectable", "--interface", "wsgi"], "/x", None),
    ],
)
def test_serve_hosts_asgi_and_wsgi_apps(args: list[str], path: str, body: bytes | None) -> None:
    with PorchProcess("serve", *args, "--port", "0") as porch:
        status, _, got = get(porch.port(), path)
        if body is None:  # forced to WSGI, it returns None: a logged 500, never a hang
            assert status == 500
        else:
            assert (status, got) == (200, body)
        stop(porch)


@pytest.mark.parametrize(
    ("spec", "body"),
    [
        ("tests.apps.lifecycle:create_app()", b"made!"),
        ("tests.apps.lifecycle:create_app('hi', punct='?')", b"hi?"),
    ],
)
def test_serve_calls_an_app_factory(spec: str, body: bytes) -> None:
    with PorchProcess("serve", spec, "--port", "0") as porch:
        assert get(porch.port(), "/")[::2] == (200, body)
        stop(porch)


def test_static_flag_serves_folders_beside_the_app(tmp_path: Path) -> None:
    (tmp_path / "site.css").write_text("body { color: teal }")
    spec = f"/assets={tmp_path}"
    with PorchProcess(
        "serve", "tests.apps.lifecycle:wsgi_app", "--static", spec, "--port", "0"
    ) as porch:
        port = porch.port()
        status, headers, body = get(port, "/assets/site.css")
        assert (status, body) == (200, b"body { color: teal }")
        assert headers["content-type"].startswith("text/css") and "etag" in headers
        assert get(port, "/assets/missing.css")[0] == 404
        assert get(port, "/assetsx")[2] == b"wsgi |/assetsx"  # not under the prefix
        assert get(port, "/assets/../tests/test_cli.py")[0] in (400, 404)
        stop(porch)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("assets=./x", "/prefix=DIR"),
        ("/assets", "/prefix=DIR"),
        ("/a=/no/such/dir", "not a folder"),
    ],
)
def test_bad_static_flag_is_one_clear_line(spec: str, message: str) -> None:
    result = run_porch("serve", "tests.apps.lifecycle:wsgi_app", "--static", spec, "--port", "0")
    assert_one_line_error(result, message)


# --- wrong APP -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.apps.lifecycle", "'tests.apps.lifecycle' is not of the form module:attribute"),
        (":app", "':app' is not of the form module:attribute"),
        ("tests.apps.lifecycle:", "is not of the form module:attribute"),
        ("tests.apps.no_such_module:app", "could not import module 'tests.apps.no_such_module'"),
        ("no_such_package.sub:app", "could not import module 'no_such_package.sub'"),
        ("tests.apps.lifecycle:no_such_app", "module 'tests.apps.lifecycle' has no attribute"),
        ("tests.apps.lifecycle:NOT_CALLABLE", "not an app (a callable)"),
        ("tests.apps.lifecycle:undetectable", "cannot tell which interface"),
        ("tests.apps.lifecycle:create_app(", "the factory call is not valid Python"),
        ("tests.apps.lifecycle:create_app(open('x'))", "arguments must be literals"),
        ("tests.apps.lifecycle:create_app(1, 2)", "could not call"),
        ("tests.apps.lifecycle:create_app()()", "expected module:factory(...)"),
        ("tests.apps.lifecycle:NOT_CALLABLE()", "not a factory"),
        ("tests.apps.lifecycle:no_such_factory()", "has no attribute 'no_such_factory'"),
    ],
)
def test_wrong_app_is_one_clear_line(spec: str, message: str) -> None:
    assert_one_line_error(run_porch("serve", spec, "--port", "0"), message)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("raise RuntimeError('broken at import time')", "RuntimeError: broken at import time"),
        (
            "import no_such_dependency_of_the_app",
            "No module named 'no_such_dependency_of_the_app'",
        ),
        ("def app(:\n    pass", "SyntaxError"),
    ],
    ids=["raises", "missing-dependency", "syntax-error"],
)
def test_error_inside_the_user_module_shows_its_traceback(
    tmp_path: Path, source: str, error: str
) -> None:
    (tmp_path / "porch_user_app.py").write_text(
        f"from porch import Response\n\n{source}\n\n\nasync def ok(request):\n"
        "    return Response(b'')\n"
    )
    result = run_porch("serve", "porch_user_app:ok", "--app-dir", str(tmp_path), "--port", "0")
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "porch_user_app.py" in result.stderr
    assert error in result.stderr


# --- environment -----------------------------------------------------------------------------


def test_env_port_is_honoured(taken_port: int) -> None:
    with PorchProcess("serve", APP, env={"PORCH_PORT": "0"}) as porch:
        port = porch.port()
        assert port not in (0, 8000)
        assert get(port, "/")[0] == 200
        stop(porch)
    result = run_porch("serve", APP, env={"PORCH_PORT": str(taken_port)})
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{taken_port}")


def test_flag_overrides_env(taken_port: int) -> None:
    env = {"PORCH_PORT": str(taken_port), "PORCH_ACCESS_LOG": "false"}
    with PorchProcess("serve", APP, "--port", "0", "--access-log", env=env) as porch:
        port = porch.port()
        assert port != taken_port
        assert get(port, "/flag")[0] == 200
        match = porch.wait_for(COMBINED_LOG.pattern, stream="stdout")
        assert match["request"] == "GET /flag HTTP/1.1"
        stop(porch)


@pytest.mark.parametrize("value", ["false", "0", "off", "no", "FALSE"])
def test_env_access_log_false_silences_the_access_log(value: str) -> None:
    with PorchProcess("serve", APP, "--port", "0", env={"PORCH_ACCESS_LOG": value}) as porch:
        port = porch.port()
        assert get(port, "/")[0] == 200
        stop(porch)
    assert porch.lines["stdout"] == []


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORCH_PORT", "abc", "PORCH_PORT: 'abc' is not an integer"),
        ("PORCH_ACCESS_LOG", "maybe", "PORCH_ACCESS_LOG: 'maybe' is not true or false"),
        ("PORCH_TIMEOUT_GRACEFUL", "soon", "PORCH_TIMEOUT_GRACEFUL: 'soon' is not a number"),
        (
            "PORCH_TIMEOUT_GRACEFUL",
            "-1",
            "--timeout-graceful (PORCH_TIMEOUT_GRACEFUL) must be positive",
        ),
        ("PORCH_LOOP", "trio", "--loop (PORCH_LOOP) must be one of auto, asyncio, uvloop"),
    ],
)
def test_invalid_env_value_is_one_clear_line(name: str, value: str, message: str) -> None:
    assert_one_line_error(run_porch("serve", APP, env={name: value}), message)


# --- access log ------------------------------------------------------------------------------


def test_access_log_one_combined_line_per_request_on_stdout() -> None:
    with PorchProcess("serve", APP, "--port", "0") as porch:
        port = porch.port()
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
            sock.sendall(
                b"GET /hello?name=porch HTTP/1.1\r\nHost: t\r\nReferer: https://ref.example/\r\n"
                b"User-Agent: cli-test/1.0\r\nConnection: close\r\n\r\n"
            )
            assert recv_all(sock, DEADLINE).startswith(b"HTTP/1.1 200 ")
        assert get(port, "/second")[0] == 200
        stop(porch)
    stdout = porch.lines["stdout"]
    assert len(stdout) == 2, stdout
    first, second = (COMBINED_LOG.fullmatch(line) for line in stdout)
    assert first and second, stdout
    assert first.group("request", "status", "size", "referer", "ua") == (
        "GET /hello?name=porch HTTP/1.1",
        "200",
        "5",
        "https://ref.example/",
        "cli-test/1.0",
    )
    assert second.group("request", "referer", "ua") == ("GET /second HTTP/1.1", "-", "-")
    assert not any(COMBINED_LOG.search(line) for line in porch.lines["stderr"])


def test_no_access_log_flag_silences_stdout() -> None:
    with PorchProcess("serve", APP, "--port", "0", "--no-access-log") as porch:
        port = porch.port()
        assert get(port, "/")[0] == 200
        assert get(port, "/again")[0] == 200
        stop(porch)
    assert porch.lines["stdout"] == []
    assert any("porch listening on" in line for line in porch.lines["stderr"])


# --- invalid settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "--port (PORCH_PORT) must be between 0 and 65535; got 70000"),
        (["--port", "-1"], "--port (PORCH_PORT) must be between 0 and 65535; got -1"),
        (
            ["--limit-body-size", "0"],
            "--limit-body-size (PORCH_LIMIT_BODY_SIZE) must be positive; got 0",
        ),
        (
            ["--timeout-keep-alive", "0"],
            "--timeout-keep-alive (PORCH_TIMEOUT_KEEP_ALIVE) must be positive",
        ),
        (["--uds", "/tmp/porch-never.sock", "--fd", "3"], "--uds and --fd are alternatives"),
    ],
)
def test_invalid_value_is_one_clear_line(args: list[str], message: str) -> None:
    assert_one_line_error(run_porch("serve", APP, *args), message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "abc"], "Invalid value for '-p' / '--port': 'abc' is not a valid integer"),
        (["--loop", "trio"], "Invalid value for '--loop'"),
        (["--timeout-graceful", "soon"], "Invalid value for '--timeout-graceful'"),
    ],
)
def test_ill_typed_value_is_a_usage_error(args: list[str], message: str) -> None:
    result = run_porch("serve", APP, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"Error: {message}" in result.stderr


def test_port_in_use_is_one_clear_line(taken_port: int) -> None:
    result = run_porch("serve", APP, "--port", str(taken_port))
    line = assert_one_line_error(result, f"cannot listen on 127.0.0.1:{taken_port}")
    assert "in use" in line


def test_uds_path_taken_by_a_regular_file_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("keep me")
    result = run_porch("serve", APP, "--uds", str(path))
    assert_one_line_error(result, f"{path} exists and is not a socket; refusing to replace it")
    assert path.read_text() == "keep me"
