"""The showcase app: a small community site, assembled from its blueprints.

    make demo                                    # from the repository's root
    porch serve examples.showcase.app:app --env development --reload

At start-up it applies its migrations and seeds demo data into an empty database
(bootstrap.py); the demo login is printed in the log and shown on the login page.
docs/showcase.md is the tour of the code.
"""

from __future__ import annotations

import os
from pathlib import Path

from examples.showcase.blueprints import api, auth, live, pages, posts, services
from examples.showcase.bootstrap import prepare
from examples.showcase.database import cache, db
from examples.showcase.feed import feed, publish_through
from examples.showcase.redis_feed import RedisRelay
from examples.showcase.render import templates
from porch import App
from porch.security import Sessions

HERE = Path(__file__).resolve().parent

# Sessions live server-side in the in-process cache (the cookie holds only a random id), so
# that logging in can move them to a new id; CSRF protection is porch's default.
app = App(openapi=True, title="porch showcase", sessions=Sessions(store=cache))


@app.on_startup
async def _prepare() -> None:
    await prepare(db)  # before porch.db's own check that the database is migrated


db.init_app(app)
templates.init_app(app)
app.on_startup(pages.quotes.start)
app.on_shutdown(pages.quotes.close)

# Several workers: the live feed goes through Redis pub/sub (redis_feed.py).
if redis_url := os.environ.get("SHOWCASE_REDIS_URL"):
    relay = RedisRelay(feed, redis_url)
    app.on_startup(relay.start)
    app.on_shutdown(relay.close)
    publish_through(relay)

for blueprint in (auth.bp, posts.bp, pages.bp, api.bp, live.bp, services.bp):
    app.include(blueprint)
app.static("/static", HERE / "static", max_age=3600)
