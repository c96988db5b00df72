"""``--reload``: watch the app's folders, and tell which file changes restart the server."""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Callable
from pathlib import Path

from porch.config import Config

__all__ = ["ReloadFilter", "watch", "watched_dirs"]

logger = logging.getLogger("porch.error")


async def watch(config: Config, app_dir: str, reload: Callable[[], None]) -> None:
    """Call `reload` after each batch of relevant changes, until cancelled."""
    from watchfiles import awatch

    dirs = watched_dirs(config, app_dir)
    watching = False
    # An empty batch comes each second without changes; the first says the watch is on.
    batches = awatch(
        *dirs, watch_filter=ReloadFilter(config), rust_timeout=1000, yield_on_timeout=True
    )
    async for changes in batches:
        if not watching:
            watching = True
            logger.info("Watching %s for changes", ", ".join(str(d) for d in dirs))
        if changes:
            names = sorted({os.path.relpath(path) for _, path in changes})
            logger.info("Changed: %s; reloading", ", ".join(names[:5]))
            reload()


def watched_dirs(config: Config, app_dir: str) -> list[Path]:
    """The folders named by ``--reload-dir``, else the app's folder."""
    dirs = [Path(d).resolve() for d in config.reload_dir]
    return dirs or [Path(app_dir).resolve()]


class ReloadFilter:
    """Accept a changed path when its name (or its whole path) matches an include pattern and
    no exclude pattern, outside the folders nobody edits (.git, .venv, __pycache__,
    node_modules and the tools' caches; watchfiles' own list)."""

    def __init__(self, config: Config) -> None:
        from watchfiles import DefaultFilter

        self.ignored = DefaultFilter()  # its ignored folders and editor swap files
        self.include = config.reload_include
        self.exclude = config.reload_exclude

    def __call__(self, change: object, path: str) -> bool:
        if not self.ignored(change, path):  # type: ignore[arg-type]
            return False
        name = os.path.basename(path)
        return self._matches(self.include, name, path) and not self._matches(
            self.exclude, name, path
        )

    @staticmethod
    def _matches(patterns: tuple[str, ...], name: str, path: str) -> bool:
        return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in patterns)
