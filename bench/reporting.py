"""Turning measurements into the Markdown report and the JSON dump."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from loadgen import CLIENT_CPU, CONNECTIONS, SERVER_CPU, WARMUP_S, Sample, wrk_command
from suites import REFERENCE, REPO_DIR, SERVERS, Scenario, Suite


@dataclass
class Row:
    server: str
    runs: list[Sample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def median(self, attr: str) -> float | None:
        """Median over runs of a Sample field; None if failed or not measured."""
        values: list[float | None] = [getattr(s, attr) for s in self.runs]
        clean = [v for v in values if v is not None]
        if self.error or not clean or len(clean) < len(values):
            return None
        return statistics.median(clean)


Results = list[tuple[Scenario, list[Row]]]


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "—"


def table(scenario: Scenario, rows: list[Row]) -> list[str]:
    ref = next((r.median("rps") for r in rows if r.server == REFERENCE), None)
    depth = f", {scenario.pipeline} pipelined" if scenario.pipeline > 1 else ""
    depth += f", wrk -c{scenario.connections}" if scenario.connections else ""
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


@dataclass
class Environment:
    date: str
    commit: str
    cpu: str
    python: str
    wrk: str
    duration_s: float
    runs: int
    connections: int = CONNECTIONS


def environment(duration: float, runs: int) -> Environment:
    def first_line(cmd: list[str]) -> str:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_DIR)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    models = [ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")]
    commit = first_line(["git", "rev-parse", "--short", "HEAD"])
    commit = commit if re.fullmatch(r"[0-9a-f]+", commit) else "none"
    # porch is installed editable: uncommitted changes under src/ are what was measured.
    if commit != "none" and first_line(["git", "status", "--porcelain", "--", "src"]) != "unknown":
        commit += " + uncommitted changes in src/"
    return Environment(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        commit=commit,
        cpu=f"{models[0] if models else platform.machine()}, {os.cpu_count()} cores",
        python=platform.python_version(),
        wrk=first_line(["wrk", "-v"]).split(" [")[0],
        duration_s=duration,
        runs=runs,
    )


def markdown(suite: Suite, env: Environment, results: Results) -> str:
    rps = {(s.name, r.server): r.median("rps") for s, rows in results for r in rows}
    workers = max((s.workers for s in suite.scenarios), default=1)
    lines = [
        f"# porch benchmarks — suite `{suite.name}`",
        "",
        f"{env.date} · commit {env.commit} · {env.cpu} · Python {env.python} · {env.wrk}",
        "",
        (
            f"Each server runs {workers} worker processes, unpinned (every core); "
            if workers > 1
            else f"Servers pinned to core {SERVER_CPU}, "
        )
        + f"wrk pinned to core {CLIENT_CPU}: "
        f"`{' '.join(wrk_command('URL', env.duration_s, 1))}` "
        f"after a {WARMUP_S} s warm-up (a table that names `wrk -cN` used N connections); "
        "pipelined tables add "
        "`-s bench/pipeline.lua URL -- 16` and show no latency (wrk's latency "
        "statistics are not valid under pipelining). Each server is restarted "
        f"for every run; median of {env.runs} run(s). "
        "Expect ±10–15 % run-to-run noise.",
        "",
    ]
    ran = {s.name for s, _ in results}
    targets = [t for t in suite.targets if t.scenario in ran]
    if targets:
        lines += ["Targets (informational, no pass/fail):", ""]
    for t in targets:
        got = ratio(rps.get((t.scenario, REFERENCE)), rps.get((t.scenario, t.peer)))
        goal = f"{REFERENCE} ≥ {t.ratio:.1f}× {t.peer}"
        lines.append(f"- {t.scenario}: {goal} — measured {got}")
    lines += [""] if targets else []
    for scenario, rows in results:
        lines += table(scenario, rows)
    lines += ["Servers:", ""]
    used = {r.server for _, rows in results for r in rows}
    lines += [f"- `{n}`: {s.description}" for n, s in SERVERS.items() if n in used]
    return "\n".join(lines) + "\n"


def as_json(suite: Suite, env: Environment, results: Results) -> str:
    medians = ("rps", "p50_ms", "p99_ms")
    data = {
        "environment": asdict(env),
        "suite": suite.name,
        "scenarios": [
            {
                "name": s.name,
                "path": s.path,
                "pipeline": s.pipeline,
                "connections": s.connections or CONNECTIONS,
                "rows": [asdict(r) | {k: r.median(k) for k in medians} for r in rows],
            }
            for s, rows in results
        ],
    }
    return json.dumps(data, indent=2) + "\n"
