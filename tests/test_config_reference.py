"""docs/configuration.md lists every server setting exactly as porch.Config declares it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from porch.cli import main as cli
from porch.cli.reference import BEGIN, END, config_reference, replace_block
from porch.config import Config

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "configuration.md"


def test_the_page_holds_the_reference_generated_from_the_fields() -> None:
    text = PAGE.read_text()
    assert replace_block(text, config_reference()) == text, (
        "docs/configuration.md is out of date with porch.Config: run python docs/gen_config.py"
    )


def test_every_field_has_a_row_with_its_flag_variable_and_default() -> None:
    table = config_reference()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(dataclasses.fields(Config))
    by_name = {row.split("`")[1]: row for row in rows}
    assert by_name["port"].startswith("| `port` | `-p, --port` | `PORCH_PORT` | `8000` |")
    assert "`--access-log / --no-access-log`" in by_name["access-log"]
    assert "(unset)" in by_name["ssl-certfile"] and "Secret" in by_name["ssl-keyfile-password"]
    assert '`["*.py"]`' in by_name["reload-include"]
    assert "One of: `development`, `production`." in by_name["env"]


def test_a_changed_field_makes_the_check_fail(tmp_path: Path) -> None:
    stale = PAGE.read_text().replace("`PORCH_BACKLOG` | `2048`", "`PORCH_BACKLOG` | `1024`")
    assert stale != PAGE.read_text()
    assert replace_block(stale, config_reference()) != stale
    block = stale[stale.index(BEGIN) : stale.index(END)]
    assert "1024" in block


def test_the_generator_script_checks_the_page() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen_config.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_porch_config_reference_prints_the_table() -> None:
    result = CliRunner().invoke(cli, ["config", "--reference"])
    assert result.exit_code == 0, result.output
    assert result.output == config_reference()
