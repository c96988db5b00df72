"""The `db` suite's porch app: examples/techempower on PostgreSQL (see db_common.py)."""

from examples.techempower.app import create_app

from bench.apps.db_common import POOL_SIZE, URL

app = create_app(URL, pool_size=POOL_SIZE)
