"""Many processes on one socket: the supervisor (``--workers``, signals, rolling reload,
recycling, stuck workers) and the development reloader (``--reload``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from porch.config import Config
from porch.workers.link import LINK_ENV

__all__ = ["run_workers", "wants_supervisor"]


def wants_supervisor(config: Config) -> bool:
    """Whether ``porch serve`` needs a supervisor rather than serving in its own process:
    more than one worker, ``--reload``, or recycling (which needs someone to replace the
    worker). Never inside a worker: it serves."""
    if LINK_ENV in os.environ:
        return False
    return (
        config.workers != 1
        or config.reload
        or config.max_requests > 0
        or config.limit_worker_memory > 0
    )


def run_workers(
    app_spec: str, app_dir: str, config: Config, extra_args: Sequence[str] = ()
) -> int:
    """Serve ``app_spec`` with a supervisor until stopped; returns the exit status.

    Each worker runs ``python -m porch serve APP --app-dir DIR *extra_args`` with the
    effective `config` in ``PORCH_*`` variables and the shared socket as ``PORCH_FD``.
    The app is never imported here: every worker imports it, so SIGHUP loads new code.
    """
    from porch.workers.supervisor import Supervisor

    return Supervisor(app_spec, app_dir, config, extra_args).run()
