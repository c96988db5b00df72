"""``porch new NAME``: a new project laid out the way its author would lay it out.

The templates live in ``porch/scaffold/<layout>/`` as plain files. A file or folder named
``__project__`` takes the project's name, a ``.py-tpl`` suffix becomes ``.py`` (so that the
templates are not linted, typed or collected as porch's own code), ``gitignore`` is
written as ``.gitignore``, and the text ``%%project%%`` in a file is replaced by the name.
Nothing else is substituted: Jinja2 templates of the new project pass through untouched.
"""

from __future__ import annotations

import keyword
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import click

__all__ = ["new", "create_project"]

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_TOKEN = "%%project%%"
_LAYOUTS = ("project", "minimal")
# Packaged without a leading dot (package data globs skip dotfiles), written with one.
_DOTFILES = {"gitignore": ".gitignore"}


def check_name(name: str) -> str:
    """A project name is also its Python package name: lowercase, digits, underscores."""
    if not _NAME.fullmatch(name) or keyword.iskeyword(name):
        raise click.BadParameter(
            f"{name!r} is not a usable package name: use lowercase letters, digits and "
            "underscores, starting with a letter (e.g. mysite)",
            param_hint="NAME",
        )
    return name


def create_project(name: str, target: Path, layout: str = "project") -> list[Path]:
    """Write the `layout` templates for `name` into `target` (which must not exist or be
    empty); return the files written."""
    if layout not in _LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise click.ClickException(f"{target} already exists and is not empty")
    source = resources.files("porch.scaffold") / layout
    written: list[Path] = []
    _copy(source, target, name, written)
    return written


def _copy(source: Traversable, target: Path, name: str, written: list[Path]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        out_name = _DOTFILES.get(entry.name, entry.name).replace("__project__", name)
        if out_name.endswith(".py-tpl"):
            out_name = out_name[: -len("-tpl")]
        if entry.is_dir():
            _copy(entry, target / out_name, name, written)
            continue
        data = entry.read_bytes()
        if _TOKEN.encode() in data:
            data = data.replace(_TOKEN.encode(), name.encode())
        path = target / out_name
        path.write_bytes(data)
        written.append(path)


@click.command()
@click.argument("name")
@click.option(
    "--minimal",
    is_flag=True,
    help="One file (app.py) instead of a project with blueprints, "
    "models, migrations, templates, static files and tests.",
)
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to create it [default: ./NAME].",
)
def new(name: str, minimal: bool, directory: Path | None) -> None:
    """Create a new porch project called NAME (also its Python package name)."""
    check_name(name)
    target = directory if directory is not None else Path(name)
    written = create_project(name, target, "minimal" if minimal else "project")
    click.echo(f"Created {target}/ ({len(written)} file{'' if len(written) == 1 else 's'}).")
    readme = target / "README.md"
    if readme.exists():
        click.echo(f"Next: cd {target} and follow README.md's two commands.")
    else:
        click.echo(f"Next: cd {target} && porch serve app:app --reload")
