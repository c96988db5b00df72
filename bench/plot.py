"""Draw each suite's last full run (bench/results/<suite>.json) as a PNG for the docs.

Usage: python bench/plot.py [--out docs/images] [SUITE ...]

One horizontal bar chart per suite: a group of bars per scenario, one bar per server,
porch in a colour of its own, each bar labelled with its rate and its ratio to porch.
The figures are only as good as the run they come from: the chart's caption names its
date, commit, machine and Python, as the Markdown report does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_OUT = BENCH_DIR.parent / "docs" / "images"
PORCH = "porch"
PORCH_COLOUR = "#2f6f4f"
PEER_COLOUR = "#9aa7b1"
UNITS = {"websocket": "echo messages per second"}  # every other suite counts requests


def load(suite: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{suite}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def bars(data: dict[str, Any]) -> list[tuple[str, list[tuple[str, float]]]]:
    """[(scenario, [(server, rate), ...]), ...] for the rows that measured something."""
    groups = []
    for scenario in data["scenarios"]:
        rows = [(r["server"], r["rps"]) for r in scenario["rows"] if r.get("rps")]
        if rows:
            groups.append((scenario["name"], rows))
    return groups


def draw(suite: str, data: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    groups = bars(data)
    sizes = [len(rows) for _, rows in groups]
    fig, axes = plt.subplots(
        len(groups),
        1,
        figsize=(8.5, 1.0 + 0.34 * sum(sizes) + 0.5 * len(groups)),
        dpi=110,
        gridspec_kw={"height_ratios": sizes},
        squeeze=False,
    )
    unit = UNITS.get(suite, "requests per second")
    for ax, (scenario, rows) in zip(axes[:, 0], groups, strict=True):
        # Each scenario on its own scale: a pipelined raw socket would flatten the rest.
        porch_rate = next((rate for server, rate in rows if server == PORCH), None)
        widest = max(rate for _, rate in rows)
        for y, (server, rate) in enumerate(rows):
            colour = PORCH_COLOUR if server == PORCH else PEER_COLOUR
            ax.barh(y, rate, height=0.75, color=colour)
            text = f"{rate:,.0f}"
            if porch_rate and server != PORCH:
                text += f"  (porch {porch_rate / rate:.2f}×)"
            ax.text(rate + widest * 0.01, y, text, va="center", fontsize=8)
        ax.set_yticks(range(len(rows)), [server for server, _ in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, widest * 1.4)
        ax.set_title(scenario, fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=7)
        if widest >= 10_000:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:,.0f}k"))
        else:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1, 0].set_xlabel(unit, fontsize=8)
    fig.suptitle(f"porch benchmarks: suite {suite}", fontsize=11, x=0.01, ha="left")
    env = data["environment"]
    caption = (
        f"{env['date']} · commit {env['commit']} · {env['cpu']} · Python {env['python']} · "
        f"median of {env['runs']} run(s) of {env['duration_s']:g} s"
    )
    fig.text(0.01, 0.005, caption, fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"bench-{suite}.png"
    fig.savefig(target)
    plt.close(fig)
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("suites", nargs="*", help="suites to draw (default: every results/*.json)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the PNG files")
    args = p.parse_args(argv)
    suites = args.suites or sorted(
        f.stem for f in RESULTS_DIR.glob("*.json") if f.stem != "latest"
    )
    drawn = 0
    for suite in suites:
        data = load(suite)
        if data is None or not bars(data):
            print(f"[plot] no measured results for suite {suite!r}: skipped", file=sys.stderr)
            continue
        print(f"[plot] {draw(suite, data, args.out)}")
        drawn += 1
    return 0 if drawn else 1


if __name__ == "__main__":
    sys.exit(main())
