"""Benchmark runner: start each server pinned to core 0, load it with wrk
pinned to core 1, and report req/s, p50 and p99 as Markdown (and JSON).

Usage: python bench/bench.py [--suite server] [--only NAME,...]
                             [--scenario NAME,...] [--duration S] [--runs N]
                             [--quick] [--json]
What is measured lives in suites.py; this file only knows how to measure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from suites import BENCH_DIR, REFERENCE, REPO_DIR, SERVERS, SUITES, Launch, Scenario

SERVER_CPU, CLIENT_CPU = "0", "1"
CONNECTIONS = 64
WARMUP_S = 2
READY_TIMEOUT_S = 15.0
STOP_GRACE_S = 5.0
RESULTS_DIR = BENCH_DIR / "results"


class BenchError(Exception):
    """A server could not be measured; reported as a row note, not a crash."""


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    socket_errors: int
    non_2xx: int


@dataclass
class Row:
    server: str
    runs: list[Sample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def median(self, attr: str) -> float | None:
        if self.error or not self.runs:
            return None
        return statistics.median(getattr(s, attr) for s in self.runs)


Results = list[tuple[Scenario, list[Row]]]


# --- processes -----------------------------------------------------------------


def pinned(cpu: str) -> list[str]:
    """Prefix that pins a command to one core (nothing on 1-core machines)."""
    return ["taskset", "-c", cpu] if (os.cpu_count() or 1) >= 2 else []


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


# --- wrk -----------------------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_PCT = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
_TOTAL = re.compile(r"^\s+(\d+) requests in", re.M)
_SOCKET = re.compile(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def parse_wrk(out: str) -> Sample:
    rps, total = _RPS.search(out), _TOTAL.search(out)
    pct = {m[1]: float(m[2]) * _UNIT_MS[m[3]] for m in _PCT.finditer(out)}
    if not rps or not total or set(pct) != {"50", "99"}:
        raise BenchError(f"cannot parse wrk output: {out.strip()[-200:]!r}")
    sock, non2xx = _SOCKET.search(out), _NON_2XX.search(out)
    return Sample(
        rps=float(rps[1]),
        p50_ms=pct["50"],
        p99_ms=pct["99"],
        requests=int(total[1]),
        socket_errors=sum(int(n) for n in sock.groups()) if sock else 0,
        non_2xx=int(non2xx[1]) if non2xx else 0,
    )


def wrk_command(url: str, duration: float, pipeline: int) -> list[str]:
    cmd = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration:g}s", "--latency"]
    if pipeline > 1:
        cmd += ["-s", str(BENCH_DIR / "pipeline.lua"), url, "--", str(pipeline)]
    else:
        cmd.append(url)
    return cmd


def run_wrk(url: str, duration: float, pipeline: int) -> Sample:
    cmd = pinned(CLIENT_CPU) + wrk_command(url, duration, pipeline)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
    except subprocess.TimeoutExpired as exc:
        raise BenchError("wrk did not finish in time") from exc
    if done.returncode != 0:
        raise BenchError(f"wrk failed: {(done.stderr or done.stdout).strip()[-200:]}")
    sample = parse_wrk(done.stdout)
    if sample.requests == 0:
        raise BenchError("wrk completed no request")
    return sample


# --- one measurement -------------------------------------------------------------


def header_notes(headers: http.client.HTTPMessage) -> list[str]:
    return [f"no {h} header" for h in ("Server", "Date") if h not in headers]


def measure(server_name: str, scenario: Scenario, duration: float) -> Row:
    """Start, check, warm up, measure and stop one server once."""
    server = SERVERS[server_name]
    row = Row(server_name)
    with tempfile.TemporaryDirectory(prefix=f"porch-bench-{server_name}-") as tmp:
        launch = Launch(port=free_port(), workdir=Path(tmp), path=scenario.path)
        log = launch.workdir / "server.log"
        try:
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    pinned(SERVER_CPU) + server.command(launch),
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
            if scenario.check and not scenario.check(body):
                raise BenchError(f"unexpected body {body[:60]!r}")
            row.notes = header_notes(headers)
            url = f"http://127.0.0.1:{launch.port}{scenario.path}"
            run_wrk(url, WARMUP_S, scenario.pipeline)
            sample = run_wrk(url, duration, scenario.pipeline)
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


# --- report ------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "—"


def table(scenario: Scenario, rows: list[Row]) -> list[str]:
    ref = next((r.median("rps") for r in rows if r.server == REFERENCE), None)
    depth = f", {scenario.pipeline} pipelined" if scenario.pipeline > 1 else ""
    out = [
        f"## {scenario.name} — GET {scenario.path}{depth}",
        "",
        f"| server | req/s | p50 | p99 | {REFERENCE} ÷ server | server ÷ {REFERENCE} | note |",
        "|---|--:|--:|--:|--:|--:|---|",
    ]
    for r in rows:
        rps, p50, p99 = r.median("rps"), r.median("p50_ms"), r.median("p99_ms")
        note = "; ".join(([f"FAILED: {r.error}"] if r.error else []) + r.notes)
        cells = [
            r.server,
            f"{rps:,.0f}" if rps else "—",
            f"{p50:.2f} ms" if p50 is not None else "—",
            f"{p99:.2f} ms" if p99 is not None else "—",
            ratio(ref, rps),
            ratio(rps, ref),
            note.replace("|", "\\|"),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def environment(args: argparse.Namespace) -> dict[str, object]:
    def first_line(cmd: list[str]) -> str:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_DIR)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")]
    cpu = models[0] if models else platform.machine()
    commit = first_line(["git", "rev-parse", "--short", "HEAD"])
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit if re.fullmatch(r"[0-9a-f]+", commit) else "none",
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "wrk": first_line(["wrk", "-v"]).split(" [")[0],
        "duration_s": args.duration,
        "runs": args.runs,
        "connections": CONNECTIONS,
    }


def report(args: argparse.Namespace, env: dict[str, object], results: Results) -> str:
    suite = SUITES[args.suite]
    rps = {(s.name, r.server): r.median("rps") for s, rows in results for r in rows}
    lines = [
        f"# porch benchmarks — suite `{suite.name}`",
        "",
        f"{env['date']} · commit {env['commit']} · {env['cpu']} · "
        f"Python {env['python']} · {env['wrk']}",
        "",
        f"Servers pinned to core {SERVER_CPU}, wrk to core {CLIENT_CPU}: "
        f"`{' '.join(wrk_command('URL', args.duration, 1))}` after a {WARMUP_S} s "
        f"warm-up; pipelined rows add `-s bench/pipeline.lua URL -- 16`. "
        f"Median of {args.runs} run(s). Expect ±10–15 % run-to-run noise.",
        "",
        "Targets (informational, no pass/fail):",
        "",
    ]
    for t in suite.targets:
        got = ratio(rps.get((t.scenario, REFERENCE)), rps.get((t.scenario, t.peer)))
        goal = f"{REFERENCE} ≥ {t.ratio:.1f}× {t.peer}"
        lines.append(f"- {t.scenario}: {goal} — measured {got}")
    lines.append("")
    for scenario, rows in results:
        lines += table(scenario, rows)
    lines += ["Servers:", ""]
    used = {r.server for _, rows in results for r in rows}
    lines += [f"- `{n}`: {s.description}" for n, s in SERVERS.items() if n in used]
    return "\n".join(lines) + "\n"


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
    env = environment(args)
    results: Results = []
    for scenario in SUITES[args.suite].scenarios:
        if args.scenario and scenario.name not in args.scenario:
            continue
        servers = [s for s in scenario.servers if not args.only or s in args.only]
        rows = [measure_runs(s, scenario, args.duration, args.runs) for s in servers]
        results.append((scenario, rows))
    text = report(args, env, results)
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.md").write_text(text)
    if args.json:
        raw = {
            "environment": env,
            "suite": args.suite,
            "scenarios": [
                {
                    "name": s.name,
                    "path": s.path,
                    "pipeline": s.pipeline,
                    "rows": [
                        asdict(r) | {k: r.median(k) for k in ("rps", "p50_ms", "p99_ms")}
                        for r in rows
                    ],
                }
                for s, rows in results
            ],
        }
        (RESULTS_DIR / "latest.json").write_text(json.dumps(raw, indent=2) + "\n")
    measured = any(r.runs for _, rows in results for r in rows)
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
