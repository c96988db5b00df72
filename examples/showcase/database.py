"""The showcase's database and cache, in a module of their own so that every blueprint can
import them without importing the app.

The database is ``$SHOWCASE_DATABASE_URL`` when set (the tests point it at a temporary
file), else ``$PORCH_DATABASE_URL``, else the SQLite file ``showcase.db`` next to this
module. The cache is in-process memory, one per server process, unless
``$SHOWCASE_REDIS_URL`` names a Redis that several workers share (docs/showcase.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from examples.showcase.models import Model
from porch.cache import from_url
from porch.db import Database

HERE = Path(__file__).resolve().parent

db = Database(
    os.environ.get("SHOWCASE_DATABASE_URL")
    or os.environ.get("PORCH_DATABASE_URL")
    or f"sqlite:///{HERE / 'showcase.db'}",
    root=HERE,  # migrations/ is next to this module
    metadata=Model.metadata,
)

# The stats page's numbers and the server-side sessions: in-process memory (bounded), or
# Redis with SHOWCASE_REDIS_URL, which several workers share (with the live feed's relay).
cache = from_url(
    os.environ.get("SHOWCASE_REDIS_URL") or "memory://?max_entries=10000", prefix="showcase:"
)
