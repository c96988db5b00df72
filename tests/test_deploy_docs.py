"""docs/deploy/* work as written: nginx runs the site file in front of a real porch, the
systemd unit verifies and its command line parses, the Kubernetes probes match the flags."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from porch import Request, Response
from porch.cli import main as cli
from porch.config import Config
from tests.conftest import read_response
from tests.server.test_lifecycle import DEADLINE, serving

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "docs" / "deploy"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def serve_config(argv: list[str]) -> tuple[dict[str, Any], Config]:
    """Parse ``porch serve ARGS`` with porch's own click command; (its params, the Config)."""
    serve = cli.commands["serve"]
    known = {
        opt
        for param in serve.params
        for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
    }
    for arg in argv:
        name = arg.split("=", 1)[0]
        assert not name.startswith("--") or name in known, f"porch serve has no option {name}"
    with serve.make_context("serve", argv) as ctx:
        params = dict(ctx.params)
    options = {k: v for k, v in params.items() if k not in ("app", "app_dir")}
    return params, Config.from_env({}, **options)


# --- nginx ----------------------------------------------------------------------------------


async def echo(request: Request) -> Response:
    """What porch received: the headers a proxy sets, and the peer's port (keep-alive)."""
    headers = request.headers
    seen = {
        name: headers.get(name)
        for name in (
            "host",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-request-id",
            "connection",
        )
    }
    client = request.client
    seen["peer_port"] = client[1] if client else None
    seen["path"] = request.path
    return Response(json.dumps(seen), media_type="application/json")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def substitute(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert text.count(old) == 1, f"expected {old!r} once in the documented file"
        text = text.replace(old, new)
    return text


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Any]:
    """``start(upstream)`` runs nginx with docs/deploy/nginx.conf (paths and ports put in)
    in front of `upstream`; returns (port, static folder)."""
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light)")
    procs: list[subprocess.Popen[bytes]] = []

    def start(upstream: str) -> tuple[int, Path]:
        port = free_port()
        static = tmp_path / "static"
        static.mkdir()
        (static / "app.css").write_text("body { color: teal }\n")
        site = substitute(
            (DEPLOY / "nginx.conf").read_text(),
            {
                "server 127.0.0.1:8000;": f"server {upstream};",
                "listen 80;": f"listen 127.0.0.1:{port};",
                "alias /srv/myapp/static/;": f"alias {static}/;",
            },
        )
        (tmp_path / "site.conf").write_text(site)
        mime = "include /etc/nginx/mime.types;" if os.path.exists("/etc/nginx/mime.types") else ""
        user = "user root;" if os.geteuid() == 0 else ""  # workers read the test's tmp files
        (tmp_path / "logs").mkdir()
        (tmp_path / "nginx.conf").write_text(
            f"{user}\nworker_processes 1;\npid {tmp_path}/nginx.pid;\n"
            f"error_log {tmp_path}/logs/error.log;\n"
            "events { worker_connections 64; }\n"
            f"http {{\n {mime}\n access_log {tmp_path}/logs/access.log;\n"
            + "".join(
                f" {kind}_temp_path {tmp_path}/{kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            + f" include {tmp_path}/site.conf;\n}}\n"
        )
        proc = subprocess.Popen(
            [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        deadline = time.monotonic() + DEADLINE
        while True:  # nginx listens once its config loaded
            try:
                socket.create_connection(("127.0.0.1", port), timeout=DEADLINE).close()
                break
            except ConnectionRefusedError:
                if proc.poll() is not None:
                    output = proc.stdout.read().decode() if proc.stdout else ""
                    log = (tmp_path / "logs" / "error.log").read_text()
                    pytest.fail(f"nginx exited: {output}\n{log}")
                assert time.monotonic() < deadline, "nginx did not start listening"
                time.sleep(0.01)  # polling a port with a deadline: nothing to wait on
        return port, static

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def through_nginx(port: int, target: str, *headers: str) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        lines = [f"GET {target} HTTP/1.1", "Host: example.com", *headers, "Connection: close"]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return read_response(sock)


@pytest.mark.parametrize("transport", ["tcp", "uds"])
def test_nginx_conf_proxies_to_porch(nginx, tmp_path: Path, transport: str) -> None:
    if transport == "tcp":
        options: dict[str, Any] = {"host": "127.0.0.1", "port": 0}
    else:
        options = {"uds": str(tmp_path / "porch.sock")}
    with serving(echo, **options) as server:
        address = server.addresses[0]
        upstream = address.removeprefix("http://") if transport == "tcp" else address
        port, _ = nginx(upstream)
        status, _, body = through_nginx(
            port, "/hello?x=1", "X-Forwarded-For: 203.0.113.7", "X-Request-ID: spoofed"
        )
        assert status == 200, body
        seen = json.loads(body)
        assert seen["path"] == "/hello"
        assert seen["host"] == "example.com"
        # nginx is the edge: it states the peer itself rather than passing on a claim
        assert seen["x-forwarded-for"] == "127.0.0.1"
        assert seen["x-forwarded-proto"] == "http"
        assert seen["x-forwarded-host"] == "example.com"
        assert re.fullmatch(r"[0-9a-f]{32}", seen["x-request-id"]), seen
        assert seen["connection"] is None  # keep-alive to porch: no "close"
        if transport == "tcp":
            # the second request reuses nginx's idle upstream connection (same peer port)
            again = json.loads(through_nginx(port, "/again")[2])
            assert again["peer_port"] == seen["peer_port"]


def test_nginx_conf_serves_static_files_and_guards_metrics(nginx) -> None:
    with serving(echo, host="127.0.0.1", port=0, metrics_path="/metrics") as server:
        port, _ = nginx(server.addresses[0].removeprefix("http://"))
        status, headers, body = through_nginx(port, "/static/app.css")
        assert (status, body) == (200, b"body { color: teal }\n")
        assert headers["content-type"].startswith("text/css")
        assert through_nginx(port, "/static/missing.css")[0] == 404  # nginx's, not the app's
        assert through_nginx(port, "/metrics")[0] == 403  # only for the allowed network


# --- systemd --------------------------------------------------------------------------------


def unit_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections; every key keeps all its values (systemd allows repeats)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"a setting outside any section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_unit_runs_porch_as_documented() -> None:
    service = unit_sections((DEPLOY / "porch.service").read_text())["Service"]
    argv = shlex.split(service["ExecStart"][0])
    assert argv[0].endswith("/porch") and argv[1] == "serve", argv
    params, config = serve_config(argv[2:])
    assert params["app"] == "myapp.main:app"
    assert "--workers" in argv
    assert float(service["TimeoutStopSec"][0]) > config.timeout_graceful
    assert service["KillSignal"] == ["SIGTERM"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["Restart"] == ["on-failure"]
    assert service["User"] and service["WorkingDirectory"][0].startswith("/")
    assert config.health_path and config.metrics_path
    env = dict(value.split("=", 1) for value in service["Environment"])
    assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/run/" + service["RuntimeDirectory"][0])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    porch = Path(sys.executable).with_name("porch")
    text = (DEPLOY / "porch.service").read_text()
    text = text.replace("/srv/myapp/.venv/bin/porch", str(porch)).replace(
        "/srv/myapp", str(tmp_path)
    )
    unit = tmp_path / "myapp.service"
    unit.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    complaints = [line for line in result.stderr.splitlines() if str(unit) in line]
    assert complaints == [], complaints


# --- Kubernetes -----------------------------------------------------------------------------


def test_kubernetes_probes_match_porch_flags() -> None:
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()))
    kinds = {doc["kind"]: doc for doc in documents}
    assert set(kinds) == {"Deployment", "Service"}
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    command = container["command"]
    assert command[:2] == ["porch", "serve"]
    _, config = serve_config(command[2:])
    (port,) = container["ports"]
    assert port["containerPort"] == config.port and config.host == "0.0.0.0"

    def probe_target(probe: dict[str, Any]) -> tuple[str, Any]:
        get = probe["httpGet"]
        return get["path"], get["port"]

    assert probe_target(container["livenessProbe"]) == (config.health_path, port["name"])
    assert probe_target(container["readinessProbe"]) == (config.ready_path, port["name"])
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > float(pre_stop[1]) + config.timeout_graceful
    annotations = kinds["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == config.metrics_path
    assert annotations["prometheus.io/port"] == str(config.port)
    metrics_dir = next(
        e["value"] for e in container["env"] if e["name"] == "PROMETHEUS_MULTIPROC_DIR"
    )
    assert any(m["mountPath"] == metrics_dir for m in container["volumeMounts"])
    service = kinds["Service"]["spec"]
    assert service["selector"] == kinds["Deployment"]["spec"]["selector"]["matchLabels"]
    assert service["ports"][0]["targetPort"] == port["name"]


def test_flag_check_refuses_an_unknown_flag() -> None:
    with pytest.raises(AssertionError, match="porch serve has no option --typo"):
        serve_config(["app:app", "--typo", "1"])
    with pytest.raises(click.BadParameter):
        serve_config(["app:app", "--port", "http"])
