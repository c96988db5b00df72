"""What health probes, metrics and timed access logs cost per request, in-process.

Drives one connection's protocol with a fake transport: batches of pipelined GETs fed to
`data_received`, every response completed inline, no kernel involved, so the difference
between rows is porch's own added work. Run: ``python -m bench.observe_overhead`` (a few
seconds); add ``--multiprocess`` to store the metrics in files as workers do.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from typing import Any

from porch import Request, Response
from porch.config import Config
from porch.server.observe import protocol_class
from porch.server.state import ServerState

BATCH = 16
REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench/1\r\n\r\n"


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def write(self, data: Any) -> None:
        self.written += len(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def plaintext(request: Request) -> Response:
    return Response(b"Hello, World!")


async def measure(config: Config, rounds: int) -> float:
    """Microseconds of CPU per request."""
    state = ServerState(plaintext, config, asyncio.get_running_loop())
    protocol = protocol_class(state, plaintext)(state)
    protocol.connection_made(Transport())
    batch = REQUEST * BATCH
    for _ in range(200):  # warm up
        protocol.data_received(batch)
    began = time.process_time()
    for _ in range(rounds):
        protocol.data_received(batch)
    return (time.process_time() - began) / (rounds * BATCH) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--multiprocess", action="store_true")
    args = parser.parse_args()
    if args.multiprocess:
        from porch.server.metrics import prepare_multiprocess

        prepare_multiprocess(tempfile.mkdtemp(prefix="porch-metrics-"))
    logging.getLogger("porch.access").addHandler(logging.NullHandler())
    logging.getLogger("porch.access").propagate = False
    logging.getLogger("porch.access").setLevel(logging.INFO)
    rows = {
        "nothing on (baseline)": Config(access_log=False),
        "--health-path --ready-path": Config(
            access_log=False, health_path="/healthz", ready_path="/readyz"
        ),
        "--metrics-path": Config(access_log=False, metrics_path="/metrics"),
        "access log combined": Config(),
        "access log json": Config(access_log_format="json"),
        "metrics + health + json log": Config(
            metrics_path="/metrics", health_path="/healthz", access_log_format="json"
        ),
    }
    baseline = None
    print(f"{'configuration':32} µs/request  added")
    for name, config in rows.items():
        cost = min(asyncio.run(measure(config, args.rounds)) for _ in range(3))
        baseline = cost if baseline is None else baseline
        print(f"{name:32} {cost:9.2f}  {cost - baseline:+6.2f}")
    if args.multiprocess:
        print("(metrics stored in files:", os.environ["PROMETHEUS_MULTIPROC_DIR"], ")")


if __name__ == "__main__":
    main()
