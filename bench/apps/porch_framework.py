"""The `framework` suite's app on porch's own framework (`porch.App`).

`id` comes typed from the path (`{id:int}`); `limit` is read from the query string and
converted to int by porch (a non-integer is a 422 from porch), and its range is checked here.
"""

from porch import App, HTTPError

# porch.App's defaults (sessions and CSRF on, unused here); the key only lets it start in
# production mode, as `porch serve` runs it.
app = App(secret_key="bench-only-key-never-use-this-in-production")


@app.get("/users/{id:int}")
async def user(id: int, limit: int = 10) -> dict:
    if not 1 <= limit <= 100:
        raise HTTPError(422, "limit must be between 1 and 100")
    return {"id": id, "limit": limit, "name": f"user-{id}"}
