"""The load generator: how wrk is run and how its output is read.

The measurement method (cores, connections, warm-up) is fixed here so every
suite is measured the same way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

from suites import BENCH_DIR

SERVER_CPU, CLIENT_CPU = "0", "1"
CONNECTIONS = 64
WS_CONNECTIONS = 16  # WebSocket echo connections (bench/ws_client.py)
WARMUP_S = 2


class BenchError(Exception):
    """A server could not be measured; reported as a row note, not a crash."""


@dataclass
class Sample:
    rps: float
    p50_ms: float | None  # None for pipelined runs: see parse_wrk
    p99_ms: float | None
    requests: int
    socket_errors: int
    non_2xx: int


def pinned(cpu: str) -> list[str]:
    """Prefix that pins a command to one core (nothing on 1-core machines)."""
    return ["taskset", "-c", cpu] if (os.cpu_count() or 1) >= 2 else []


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_PCT = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
_TOTAL = re.compile(r"^\s+(\d+) requests in", re.M)
_SOCKET = re.compile(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def parse_wrk(out: str, latency: bool = True) -> Sample:
    """Read wrk's summary. Pass latency=False for pipelined runs: wrk times a
    whole batch, and its coordinated-omission correction assumes one request
    per write, so it back-fills samples below the minimum and the percentiles
    come out as garbage (often 0us)."""
    rps, total = _RPS.search(out), _TOTAL.search(out)
    pct = {m[1]: float(m[2]) * _UNIT_MS[m[3]] for m in _PCT.finditer(out)}
    if not rps or not total or (latency and set(pct) != {"50", "99"}):
        raise BenchError(f"cannot parse wrk output: {out.strip()[-200:]!r}")
    sock, non2xx = _SOCKET.search(out), _NON_2XX.search(out)
    return Sample(
        rps=float(rps[1]),
        p50_ms=pct["50"] if latency else None,
        p99_ms=pct["99"] if latency else None,
        requests=int(total[1]),
        socket_errors=sum(int(n) for n in sock.groups()) if sock else 0,
        non_2xx=int(non2xx[1]) if non2xx else 0,
    )


def wrk_command(
    url: str, duration: float, pipeline: int, connections: int | None = None
) -> list[str]:
    cmd = ["wrk", "-t1", f"-c{connections or CONNECTIONS}", f"-d{duration:g}s", "--latency"]
    if pipeline > 1:
        cmd += ["-s", str(BENCH_DIR / "pipeline.lua"), url, "--", str(pipeline)]
    else:
        cmd.append(url)
    return cmd


def run_wrk(url: str, duration: float, pipeline: int, connections: int | None = None) -> Sample:
    cmd = pinned(CLIENT_CPU) + wrk_command(url, duration, pipeline, connections)
    sample = parse_wrk(_load(cmd, "wrk", duration), latency=pipeline == 1)
    if sample.requests == 0:
        raise BenchError("wrk completed no request")
    return sample


def run_ws(url: str, duration: float, connections: int | None = None) -> Sample:
    """The WebSocket echo load (bench/ws_client.py) instead of wrk: `rps` is messages echoed
    per second; `url` is the scenario's http:// URL, spoken to as ws://."""
    ws_url = "ws://" + url.split("://", 1)[1]
    cmd = pinned(CLIENT_CPU) + [
        sys.executable,
        str(BENCH_DIR / "ws_client.py"),
        ws_url,
        "--connections",
        str(connections or WS_CONNECTIONS),
        "--duration",
        f"{duration:g}",
    ]
    result = json.loads(_load(cmd, "ws_client", duration).strip().splitlines()[-1])
    if not result["messages"]:
        raise BenchError("ws_client echoed no message")
    return Sample(
        rps=result["rate"],
        p50_ms=result["p50_ms"],
        p99_ms=result["p99_ms"],
        requests=result["messages"],
        socket_errors=result["errors"],
        non_2xx=0,
    )


def _load(cmd: list[str], name: str, duration: float) -> str:
    """Run a load generator for `duration` seconds (bounded); its standard output."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{name} did not finish in time") from exc
    if done.returncode != 0:
        raise BenchError(f"{name} failed: {(done.stderr or done.stdout).strip()[-200:]}")
    return done.stdout
