"""Benchmark runner: start each server pinned to core 0, load it with wrk
pinned to core 1, and report req/s, p50 and p99 as Markdown (and JSON).
A scenario with several workers leaves its server unpinned, on every core.

Usage: python bench/bench.py [--suite server] [--only NAME,...]
                             [--scenario NAME,...] [--duration S] [--runs N]
                             [--quick] [--json]
What is measured lives in suites.py; this file only knows how to measure.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadgen import SERVER_CPU, WARMUP_S, BenchError, pinned, run_wrk, run_ws
from reporting import Results, Row, as_json, environment, markdown
from suites import BENCH_DIR, SERVERS, SUITES, Launch, Scenario

READY_TIMEOUT_S = 15.0
STOP_GRACE_S = 5.0
RESULTS_DIR = BENCH_DIR / "results"


# --- processes -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(path: Path) -> str:
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1][:200] if lines else "no output"


def wait_ready(
    proc: subprocess.Popen[bytes], port: int, path: str, log: Path
) -> tuple[http.client.HTTPMessage, bytes]:
    """Poll until GET path answers 200 (bounded); return its headers and body."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"exited with code {proc.returncode}: {log_tail(log)}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status == 200:
                return resp.headers, body
            last = f"GET {path} answered {resp.status}"
        except (OSError, http.client.HTTPException) as exc:
            last = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
        time.sleep(0.1)
    raise BenchError(f"not ready after {READY_TIMEOUT_S:.0f} s ({last})")


def get(port: int, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One GET on a fresh connection: status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"GET {path}: {type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def check_scenario(
    scenario: Scenario, port: int, headers: http.client.HTTPMessage, body: bytes
) -> None:
    """Refuse to measure a server that does not answer the scenario as specified: the first
    response's body and media type, then each of the scenario's probes."""
    if scenario.check and not scenario.check(body):
        raise BenchError(f"unexpected body {body[:60]!r}")
    if scenario.content_type:
        got = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if got != scenario.content_type:
            raise BenchError(f"Content-Type {got or 'missing'}, expected {scenario.content_type}")
    for probe in scenario.probes:
        status, _, probe_body = get(port, probe.path)
        if status != probe.status:
            raise BenchError(f"GET {probe.path} answered {status}, expected {probe.status}")
        if probe.check and not probe.check(probe_body):
            raise BenchError(f"GET {probe.path}: unexpected body {probe_body[:60]!r}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            continue


# --- one measurement -------------------------------------------------------------


def header_notes(headers: http.client.HTTPMessage) -> list[str]:
    return [f"no {h} header" for h in ("Server", "Date") if h not in headers]


def measure(server_name: str, scenario: Scenario, duration: float) -> Row:
    """Start, check, warm up, measure and stop one server once."""
    server = SERVERS[server_name]
    row = Row(server_name)
    with tempfile.TemporaryDirectory(prefix=f"porch-bench-{server_name}-") as tmp:
        launch = Launch(
            port=free_port(), workdir=Path(tmp), path=scenario.path, workers=scenario.workers
        )
        log = launch.workdir / "server.log"
        try:
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    # Several worker processes get every core (wrk keeps core 1 too).
                    (pinned(SERVER_CPU) if launch.workers == 1 else []) + server.command(launch),
                    cwd=server.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group, killed as one
                )
        except OSError as exc:
            row.error = f"cannot start: {exc}"
            return row
        try:
            headers, body = wait_ready(proc, launch.port, scenario.path, log)
            check_scenario(scenario, launch.port, headers, body)
            row.notes = header_notes(headers)
            url = f"http://127.0.0.1:{launch.port}{scenario.path}"
            if scenario.client == "ws":  # WebSocket echo messages, not HTTP requests
                run_ws(url, WARMUP_S, scenario.connections)
                sample = run_ws(url, duration, scenario.connections)
            else:
                run_wrk(url, WARMUP_S, scenario.pipeline, scenario.connections)
                sample = run_wrk(url, duration, scenario.pipeline, scenario.connections)
            if proc.poll() is not None:
                raise BenchError(f"died during the run: {log_tail(log)}")
            row.runs.append(sample)
        except BenchError as exc:
            row.error = str(exc)
        finally:
            stop(proc)
    return row


def measure_runs(server: str, scenario: Scenario, duration: float, runs: int) -> Row:
    row = Row(server)
    for i in range(runs):
        one = measure(server, scenario, duration)
        row.runs += one.runs
        row.notes = sorted(set(row.notes + one.notes))
        status = one.error or f"{one.runs[0].rps:,.0f} req/s"
        progress = f"  {scenario.name:<20} {server:<8} run {i + 1}/{runs}: {status}"
        print(progress, file=sys.stderr, flush=True)
        if one.error:
            row.error = one.error
            break
    errors = sum(s.socket_errors + s.non_2xx for s in row.runs)
    if errors:
        row.notes.append(f"{errors} socket errors / non-2xx")
    return row


# --- CLI -----------------------------------------------------------------------------


def _names(
    p: argparse.ArgumentParser, opt: str, value: str | None, known: set[str]
) -> set[str] | None:
    """Split a comma list and reject unknown names; None means "all"."""
    if not value:
        return None
    names = set(value.split(","))
    if names - known:
        p.error(f"unknown {opt} {sorted(names - known)}; known: {sorted(known)}")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="server", choices=sorted(SUITES))
    p.add_argument("--only", help="comma-separated server names (default: all)")
    p.add_argument("--scenario", help="comma-separated scenario names (default: all)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    p.add_argument("--runs", type=int, default=1, help="runs per server; median")
    p.add_argument("--quick", action="store_true", help="3 s runs")
    p.add_argument("--json", action="store_true", help="also write latest.json")
    args = p.parse_args(argv)
    if args.quick:
        args.duration = 3.0
    if args.duration <= 0 or args.runs < 1:
        p.error("--duration must be > 0 and --runs >= 1")
    args.only = _names(p, "--only", args.only, set(SERVERS))
    known = {s.name for s in SUITES[args.suite].scenarios}
    args.scenario = _names(p, "--scenario", args.scenario, known)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Turn SIGTERM into SystemExit so `finally` blocks stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    suite = SUITES[args.suite]
    env = environment(args.duration, args.runs)
    results: Results = []
    if suite.setup is not None:
        suite.setup()
    for scenario in suite.scenarios:
        if args.scenario and scenario.name not in args.scenario:
            continue
        servers = [s for s in scenario.servers if not args.only or s in args.only]
        rows = [measure_runs(s, scenario, args.duration, args.runs) for s in servers]
        results.append((scenario, rows))
    text = markdown(suite, env, results)
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.md").write_text(text)
    data = as_json(suite, env, results)
    if args.json:
        (RESULTS_DIR / "latest.json").write_text(data)
    if not args.only and not args.scenario:
        # A whole suite's run is its reference: the README table and bench/plot.py read it.
        (RESULTS_DIR / f"{suite.name}.md").write_text(text)
        (RESULTS_DIR / f"{suite.name}.json").write_text(data)
    measured = any(r.runs for _, rows in results for r in rows)
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
