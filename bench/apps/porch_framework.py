"""The `framework` suite's app on porch's own framework (`porch.App`).

`id` comes typed from the path (`{id:int}`); `limit` is read from the query string and
converted to int by porch (a non-integer is a 422 from porch), and its range is checked here.
"""

from porch import App, HTTPError

app = App()


@app.get("/users/{id:int}")
async def user(id: int, limit: int = 10) -> dict:
    if not 1 <= limit <= 100:
        raise HTTPError(422, "limit must be between 1 and 100")
    return {"id": id, "limit": limit, "name": f"user-{id}"}
