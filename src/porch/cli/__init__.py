"""``porch`` on the command line (also ``python -m porch``)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from typing import Any

import click

from porch.cli.loader import load_app
from porch.cli.new import new
from porch.cli.options import app_dir_option, config_options
from porch.config import Config, load_config
from porch.errors import ConfigError

__all__ = ["main"]


def setup_logging(level: str, access_log: bool) -> None:
    """Errors and server events to stderr; access lines, bare, to stdout."""
    from porch.workers.link import LINK_ENV

    # A worker of a supervisor (--workers) says which one wrote each line.
    worker = "[%(process)d] " if LINK_ENV in os.environ else ""
    error = logging.getLogger("porch.error")
    if not error.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)-7s {worker}%(message)s"))
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
@app_dir_option
@config_options
def serve(app: str, app_dir: str, **options: Any) -> None:
    """Serve APP, given as module:attribute (e.g. myproject.main:app).

    APP is a porch app (`async def app(request) -> porch.Response`, or a porch.App), an
    ASGI 3 or 2 app (FastAPI, Starlette, Django's asgi.py) or a WSGI app (Flask, Django's
    wsgi.py); --interface overrides the detection.
    """
    try:
        config = Config.load(app_dir=app_dir, **options)
        setup_logging(config.log_level, config.access_log)
        from porch.workers import run_workers, wants_supervisor

        if wants_supervisor(config):  # --workers, --reload, recycling: see docs/workers.md
            sys.exit(run_workers(app, app_dir, config))
        target = build_app(load_app(app, app_dir), config)
        from porch.server import Server

        Server(target, config).run()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def build_app(app: Any, config: Config) -> Any:
    """The native app the server runs for `app`: the interface adapter, and the --static
    folders in front of it."""
    from porch.interfaces import StaticMounts, adapt, parse_mount

    native = adapt(
        app,
        config.interface,
        root_path=config.root_path,
        lifespan=config.lifespan,
        threads=config.wsgi_threads,
        timeout_lifespan=config.timeout_lifespan,
    )
    if config.static:
        native = StaticMounts(native, [parse_mount(spec) for spec in config.static])
    return native


@main.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("-b", "--bind", "bind", default=None, help="Same as --host (as in http.server).")
@click.option(
    "--listing/--no-listing",
    default=True,
    show_default=True,
    help="Show a listing page for folders without index.html.",
)
@click.option(
    "--index",
    default="index.html",
    show_default=True,
    help="File served for a folder URL; empty to turn off.",
)
@click.option(
    "--dotfiles/--no-dotfiles",
    default=False,
    show_default=True,
    help="Serve files and folders whose name starts with a dot.",
)
@click.option(
    "--follow-symlinks/--no-follow-symlinks",
    default=False,
    show_default=True,
    help="Follow symlinks that point outside DIRECTORY.",
)
@click.option(
    "--max-age",
    type=click.IntRange(min=0),
    default=None,
    help="Send Cache-Control: public, max-age=N.",
)
@click.option(
    "--immutable-hashed/--no-immutable-hashed",
    default=False,
    show_default=True,
    help="Cache names with a content hash (app.3f9a2c1b.js) for a year, immutable.",
)
@click.option(
    "--precompressed/--no-precompressed",
    default=True,
    show_default=True,
    help="Serve NAME.br / NAME.gz siblings to clients that accept them.",
)
@click.option(
    "--gzip/--no-gzip",
    "gzip_",
    default=False,
    show_default=True,
    help="Compress small text files on the fly for clients that accept gzip.",
)
@config_options
def static(
    directory: str,
    bind: str | None,
    listing: bool,
    index: str,
    dotfiles: bool,
    follow_symlinks: bool,
    max_age: int | None,
    immutable_hashed: bool,
    precompressed: bool,
    gzip_: bool,
    **options: Any,
) -> None:
    """Serve the files of DIRECTORY (default: the current folder) on port 8000.

    The production replacement for `python -m http.server`: ranges, ETags, conditional
    requests, sendfile, precompressed files, a listing page, and no way out of DIRECTORY.
    """
    from porch.server import Server
    from porch.static import StaticFiles

    if bind is not None:
        options["host"] = bind
    try:
        config = Config.load(**options)
        setup_logging(config.log_level, config.access_log)
        from porch.workers import wants_supervisor

        if wants_supervisor(config):
            raise ConfigError(
                "porch static serves from one process: --workers, --reload, --max-requests "
                "and --limit-worker-memory are options of porch serve"
            )
        app = StaticFiles(
            directory,
            index=index or None,
            listing=listing,
            dotfiles=dotfiles,
            follow_symlinks=follow_symlinks,
            max_age=max_age,
            immutable_hashed=immutable_hashed,
            precompressed=precompressed,
            gzip=gzip_,
        )
        Server(app, config).run()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("config")
@click.option(
    "--app-dir",
    default=".",
    show_default=True,
    help="Folder whose pyproject.toml's [tool.porch] table is read.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
@config_options
def config_command(app_dir: str, as_json: bool, **options: Any) -> None:
    """Print the effective configuration and where each value comes from.

    Takes the same options as `porch serve`; precedence: flag, PORCH_* variable,
    [tool.porch] in pyproject.toml, default. Secrets are masked.
    """
    try:
        config, sources = load_config(options, app_dir=app_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    rows = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.metadata.get("secret") and value is not None:
            value = "********"
        rows.append((f.name, value, sources[f.name]))
    if as_json:
        document = {name: {"value": value, "source": source} for name, value, source in rows}
        click.echo(json.dumps(document, indent=2))
        return
    width = max(len(f"{name} = {_toml(value)}") for name, value, _ in rows)
    for name, value, source in rows:
        click.echo(f"{name} = {_toml(value)}".ljust(width) + f"  # {source}")


def _toml(value: Any) -> str:
    """A value as TOML writes it (an unset value, which TOML cannot write, as ``(none)``)."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


@main.command()
@click.argument("app")
@app_dir_option
def routes(app: str, app_dir: str) -> None:
    """List the routes of a porch.App given as module:attribute, in matching order."""
    from porch.web import App

    try:
        target = load_app(app, app_dir)
        if not isinstance(target, App):
            raise ConfigError(f"'{app}' is a {type(target).__name__}, not a porch.App")
        target.freeze()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    rows = [
        (
            ", ".join(sorted(r.methods)),
            r.path,
            r.name,
            getattr(r.endpoint, "__module__", "?")
            + ":"
            + getattr(r.endpoint, "__qualname__", "?"),
        )
        for r in target.router.routes
    ]
    headers = ("METHODS", "PATH", "NAME", "HANDLER")
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(3)]
    for row in [headers, *rows]:
        click.echo(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[3]
        )


# porch db ... (migrations of porch.db; SQLAlchemy is imported only when a db command runs)
from porch.cli.db import db as _db_group  # noqa: E402

main.add_command(_db_group)

main.add_command(new)
