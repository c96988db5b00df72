"""The `framework` suite's app on Sanic (its own server, one process).

`id` is converted by the route's `<id:int>` type; `limit` is parsed and range-checked by hand
(422 when it is not an integer in 1..100).
"""

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

app = Sanic("porch_bench")


@app.get("/users/<id:int>")
async def user(request: Request, id: int) -> HTTPResponse:
    raw = request.args.get("limit")
    try:
        limit = 10 if raw is None else int(raw)
    except ValueError:
        return json({"detail": "limit must be an integer"}, status=422)
    if not 1 <= limit <= 100:
        return json({"detail": "limit must be between 1 and 100"}, status=422)
    return json({"id": id, "limit": limit, "name": f"user-{id}"})
