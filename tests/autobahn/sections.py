"""Counts of Autobahn results per section (the table in docs/websockets.md), from the
index.json files of tests/autobahn/run.sh: ``python sections.py OUT/*/reports/index.json``."""

from __future__ import annotations

import collections
import json
import sys

RESULTS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")


def main(paths: list[str]) -> None:
    """One table per agent, merging every index.json given (runs of different sections)."""
    counts: dict[str, dict[str, collections.Counter[str]]] = {}
    for path in paths:
        with open(path) as f:
            index = json.load(f)
        for agent, cases in index.items():
            for case, result in cases.items():
                behavior = result["behavior"]
                if result["behaviorClose"] == "FAILED":
                    behavior = "FAILED"
                section = case.split(".")[0]
                table = counts.setdefault(agent, {})
                table.setdefault(section, collections.Counter())[behavior] += 1
    for agent, table in counts.items():
        print(f"\n{agent}\n")
        print("| section | cases | " + " | ".join(RESULTS) + " |")
        print("|---|---:|" + "---:|" * len(RESULTS))
        for section in sorted(table, key=int):
            row = table[section]
            cells = " | ".join(str(row.get(r, 0)) for r in RESULTS)
            print(f"| {section} | {sum(row.values())} | {cells} |")


if __name__ == "__main__":
    main(sys.argv[1:])
