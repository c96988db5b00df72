"""pytest fixtures for porch apps, registered automatically when porch is installed.

``porch_live_server`` runs an app on the real porch server on a free port for one test::

    def test_home(porch_live_server):
        with porch_live_server(app) as server:
            assert httpx.get(server.url + "/").status_code == 200
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from porch.web.testing import live_server

__all__ = ["porch_live_server"]


@pytest.fixture
def porch_live_server() -> Callable[..., Any]:
    """``porch_live_server(app, **config)``: a context manager giving a `LiveServer`
    (``.url``, ``.port``, ``.connect()``), stopped gracefully at the end of the block."""
    return live_server
