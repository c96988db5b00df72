"""``porch`` on the command line (also ``python -m porch``)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from porch.cli.loader import app_kind, load_app
from porch.cli.options import config_options
from porch.config import Config
from porch.errors import ConfigError

__all__ = ["main"]


def setup_logging(level: str, access_log: bool) -> None:
    """Errors and server events to stderr; access lines, bare, to stdout."""
    error = logging.getLogger("porch.error")
    if not error.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
        error.addHandler(handler)
    error.setLevel(level.upper())
    error.propagate = False
    access = logging.getLogger("porch.access")
    if not access.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
    access.setLevel(logging.INFO if access_log else logging.WARNING)
    access.propagate = False


@click.group(context_settings={"help_option_names": ["--help"], "max_content_width": 100})
@click.version_option(package_name="porch")
def main() -> None:
    """porch: a fast, strict HTTP/1.1 server and web framework."""


@main.command()
@click.argument("app")
@click.option(
    "--app-dir",
    default=".",
    show_default=True,
    help="Folder put first on sys.path to import APP from.",
)
@config_options
def serve(app: str, app_dir: str, **options: Any) -> None:
    """Serve APP, given as module:attribute (e.g. myproject.main:app).

    APP is a native porch app: `async def app(request) -> porch.Response`.
    """
    try:
        config = Config.from_env(**options)
        setup_logging(config.log_level, config.access_log)
        target = load_app(app, app_dir)
        kind = app_kind(target)
        if kind != "native":
            raise ConfigError(
                f"'{app}' is not a native porch app (async def app(request) -> Response); "
                f"detected: {kind}. ASGI and WSGI hosting is not available in this version."
            )
        from porch.server import Server

        Server(target, config).run()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
