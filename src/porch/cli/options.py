"""Command-line options generated from `porch.config.Config`'s fields."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click

from porch.config import ENV_PREFIX, Config, field_type

__all__ = ["app_dir_option", "config_options"]

app_dir_option = click.option(
    "--app-dir",
    default=".",
    show_default=True,
    help="Folder put first on sys.path to import APP from; its pyproject.toml's [tool.porch] "
    "table is read.",
)

FLAG_LETTERS = {"port": "-p"}


def config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add one option per Config field. Unset options arrive as None, so the environment
    and the defaults apply (see `Config.from_env`)."""
    for f in reversed(dataclasses.fields(Config)):
        flag = "--" + f.name.replace("_", "-")
        kind = field_type(f)
        default = f.default
        env = ENV_PREFIX + f.name.upper()
        shown = "none" if default in (None, ()) else default
        help_text = f"{f.metadata['help']} [default: {shown}; env: {env}]"
        names = [flag]
        if f.name in FLAG_LETTERS:
            names.insert(0, FLAG_LETTERS[f.name])
        if kind is tuple:
            option = click.option(*names, f.name, multiple=True, help=help_text)
        elif kind is bool:
            decl = f"{flag}/--no-{flag[2:]}"
            option = click.option(decl, f.name, default=None, help=help_text)
        elif f.metadata.get("choices"):
            option = click.option(
                *names,
                f.name,
                type=click.Choice(f.metadata["choices"]),
                default=None,
                help=help_text,
            )
        else:
            option = click.option(*names, f.name, type=kind, default=None, help=help_text)
        func = option(func)
    return func
