"""Rewrite the generated settings table of docs/configuration.md from porch.config.Config.

python docs/gen_config.py          # update the page
python docs/gen_config.py --check  # exit 1 when the page is out of date (CI, tests)
"""

from __future__ import annotations

import sys
from pathlib import Path

from porch.cli.reference import config_reference, replace_block

PAGE = Path(__file__).with_name("configuration.md")


def main(argv: list[str]) -> int:
    text = PAGE.read_text()
    updated = replace_block(text, config_reference())
    if "--check" in argv:
        if updated != text:
            print(f"{PAGE} is out of date: run python docs/gen_config.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
