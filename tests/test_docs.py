"""Every code sample in README.md and docs/*.md runs as written.

A page's ```python blocks run in order in one namespace, as a reader pastes them into one
file or one interpreter session: a later block may use what an earlier one defined. They
run in a fresh folder (the working directory), with ``__name__`` set to ``"docs_sample"``
so that ``if __name__ == "__main__": app.run()`` does not start a server.

A page may hold hidden steps in HTML comments, which render as nothing:
``<!-- setup: python code -->`` prepares what a sample takes for granted (a folder, a
stand-in for the reader's own function), and ``<!-- check: python code -->`` asserts what
the sample promises, usually through ``TestClient(app)``. Both run where they stand, in the
page's namespace.

When a page is done, every ``porch.App`` it made is started and stopped once through the
TestClient, which compiles each route's parameters: a sample whose handler signature porch
would refuse fails here.

In ```sh blocks, every ``porch ...`` (or ``python -m porch ...``) command line is parsed by
porch's own command-line parser: a renamed flag or command fails here. The commands are not
run (they serve forever); the tests of each feature run them for real.
"""

from __future__ import annotations

import re
import shlex
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from porch import App
from porch.cli import main as cli
from porch.web.testing import TestClient

# A sample that serves forever instead of guarding app.run() is a failure, not a hang.
pytestmark = pytest.mark.timeout(60, method="thread")

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
_STEP = re.compile(
    r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^```[ \t]*$"
    r"|<!--[ \t]*(?P<hidden>setup|check):?(?P<hidden_code>.*?)-->",
    re.S | re.M,
)


@dataclass(frozen=True)
class Step:
    kind: str  # python | setup | check | sh
    code: str
    line: int


def steps(page: Path) -> Iterator[Step]:
    text = page.read_text()
    for match in _STEP.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        if match["hidden"]:
            yield Step(match["hidden"], _dedent(match["hidden_code"]), line)
        elif match["lang"] in ("python", "py"):
            yield Step("python", match["code"], line)
        elif match["lang"] in ("sh", "bash", "shell", "console"):
            yield Step("sh", match["code"], line)


def _dedent(code: str) -> str:
    lines = code.strip("\n").splitlines()
    indents = [len(s) - len(s.lstrip()) for s in lines if s.strip()]
    cut = min(indents, default=0)
    return "\n".join(s[cut:] for s in lines) + "\n"


def porch_commands(script: str) -> Iterator[list[str]]:
    """The arguments of each ``porch ...`` command line in a shell sample."""
    joined = script.replace("\\\n", " ")
    for raw in joined.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        for command in re.split(r"&&|\|\||;", line):
            try:
                words = shlex.split(command, comments=True)
            except ValueError:
                continue
            while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
                words = words[1:]  # VAR=value porch ...
            if words[:1] == ["porch"]:
                yield words[1:]
            elif words[:3] in (["python", "-m", "porch"], ["python3", "-m", "porch"]):
                yield words[3:]


def parse_porch(args: list[str]) -> None:
    """Resolve the sub-command and parse its options, as ``porch`` would, without running."""
    group: click.Command = cli
    rest = list(args)
    while isinstance(group, click.Group) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        command = group.get_command(click.Context(group), name)
        assert command is not None, f"porch has no command {name!r}"
        group = command
    if "--help" in rest or "--version" in rest:
        return
    with group.make_context("porch", rest, resilient_parsing=False):
        pass


def samples() -> list[Path]:
    return [page for page in PAGES if any(True for _ in steps(page))]


@pytest.mark.parametrize("page", samples(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_sample_of_the_page_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    # A real module, as the reader's file would be: type hints are resolved through it.
    module = types.ModuleType("docs_sample")
    monkeypatch.setitem(sys.modules, "docs_sample", module)
    namespace = module.__dict__
    for step in steps(page):
        where = f"{page.relative_to(ROOT)}:{step.line}"
        if step.kind == "sh":
            for args in porch_commands(step.code):
                try:
                    parse_porch(args)
                except (click.ClickException, click.exceptions.Exit, AssertionError) as exc:
                    pytest.fail(f"{where}: `porch {shlex.join(args)}` does not parse: {exc}")
            continue
        code = compile(step.code, f"{where} ({step.kind})", "exec")
        exec(code, namespace)  # noqa: S102 - the documentation's own samples
    for value in list(namespace.values()):
        if isinstance(value, App):
            with TestClient(value):
                pass


def test_the_harness_finds_samples_and_hidden_steps() -> None:
    kinds = {step.kind for page in PAGES for step in steps(page)}
    assert {"python", "sh", "check"} <= kinds, kinds
    assert list(porch_commands("PORCH_PORT=1 porch serve a:b --workers 2 && porch static .")) == [
        ["serve", "a:b", "--workers", "2"],
        ["static", "."],
    ]
    with pytest.raises(click.ClickException):
        parse_porch(["serve", "a:b", "--no-such-flag"])
    with pytest.raises(AssertionError):
        parse_porch(["no-such-command"])
