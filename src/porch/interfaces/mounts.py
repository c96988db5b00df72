"""Static folders served beside any app: ``porch serve app --static /static=./public``."""

from __future__ import annotations

import os
from typing import Any

from porch.errors import ConfigError
from porch.request import Request
from porch.response import Response
from porch.static.app import StaticFiles

__all__ = ["StaticMounts", "parse_mount"]


def parse_mount(spec: str) -> tuple[str, str]:
    """``/prefix=DIR`` -> (``/prefix``, ``DIR``), checked."""
    prefix, sep, directory = spec.partition("=")
    prefix = prefix.strip()
    if not sep or not prefix.startswith("/") or not directory:
        raise ConfigError(
            f"--static {spec!r} is not of the form /prefix=DIR (e.g. /static=./public)"
        )
    if prefix != "/" and prefix.endswith("/"):
        prefix = prefix.rstrip("/")
    if "%" in prefix or "?" in prefix or "#" in prefix:
        raise ConfigError(f"--static prefix {prefix!r} must be a plain path")
    if not os.path.isdir(directory):
        raise ConfigError(f"--static {spec!r}: {directory!r} is not a folder")
    return prefix, directory


class StaticMounts:
    """Answer requests under each prefix from its folder (GET and HEAD, with the static
    engine: ETags, ranges, precompressed files); pass every other request to `app`.
    The longest matching prefix wins."""

    __porch_native__ = True

    def __init__(self, app: Any, mounts: list[tuple[str, str]], **options: Any) -> None:
        self.app = app
        ordered = sorted(mounts, key=lambda m: len(m[0]), reverse=True)
        self.mounts = [
            (prefix.encode("utf-8"), StaticFiles(directory, prefix=prefix, **options))
            for prefix, directory in ordered
        ]

    async def startup(self) -> None:
        hook = getattr(self.app, "startup", None)
        if hook is not None:
            await hook()

    async def shutdown(self) -> None:
        hook = getattr(self.app, "shutdown", None)
        if hook is not None:
            await hook()

    async def __call__(self, request: Request) -> Response:
        path = request.raw_path
        for prefix, files in self.mounts:
            if path.startswith(prefix) and (
                len(path) == len(prefix) or path[len(prefix)] == 47 or prefix == b"/"
            ):
                return await files(request)
        response: Response = await self.app(request)
        return response
