"""WebSocket echo load: N connections, each sending a message and awaiting its echo, again
and again, for a fixed time (wrk cannot speak WebSocket). The runner pins it to core 1.

    python bench/ws_client.py ws://127.0.0.1:8000/ws/echo --connections 16 --duration 10

Prints one JSON line: messages echoed, messages per second, latency p50/p99 (ms), errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from websockets.asyncio.client import connect

MESSAGE = "Hello, World!"


async def one_connection(url: str, until: float, latencies: list[float]) -> int:
    errors = 0
    async with connect(url, compression=None, max_queue=None, ping_interval=None) as ws:
        clock = time.perf_counter
        while clock() < until:
            start = clock()
            await ws.send(MESSAGE)
            if await ws.recv() != MESSAGE:
                errors += 1
            latencies.append(clock() - start)
    return errors


async def run(url: str, connections: int, duration: float) -> dict[str, float]:
    latencies: list[float] = []
    start = time.perf_counter()
    until = start + duration
    results = await asyncio.gather(
        *(one_connection(url, until, latencies) for _ in range(connections)),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - start
    errors = sum(r if isinstance(r, int) else 1 for r in results)
    latencies.sort()
    count = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(count - 1, int(count * p))] * 1000 if count else 0.0

    return {
        "messages": count,
        "seconds": elapsed,
        "rate": count / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    load = run(args.url, args.connections, args.duration)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(load)
    else:
        result = uvloop.run(load)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
