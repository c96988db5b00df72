"""aiohttp serving a folder with `web.static`, for the `static` suite.

Usage: python bench/apps/aiohttp_static.py PORT DIRECTORY
"""

from __future__ import annotations

import sys

from aiohttp import web


def main() -> None:
    port, directory = int(sys.argv[1]), sys.argv[2]
    app = web.Application()
    app.add_routes([web.static("/", directory)])
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
