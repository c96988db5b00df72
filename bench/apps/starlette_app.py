"""The `framework` suite's app on Starlette (run by uvicorn with httptools + uvloop).

`id` is converted by the route's `{id:int}` convertor; `limit` is parsed and range-checked by
hand (422 when it is not an integer in 1..100).
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def user(request: Request) -> JSONResponse:
    id = request.path_params["id"]
    raw = request.query_params.get("limit")
    try:
        limit = 10 if raw is None else int(raw)
    except ValueError:
        return JSONResponse({"detail": "limit must be an integer"}, status_code=422)
    if not 1 <= limit <= 100:
        return JSONResponse({"detail": "limit must be between 1 and 100"}, status_code=422)
    return JSONResponse({"id": id, "limit": limit, "name": f"user-{id}"})


app = Starlette(routes=[Route("/users/{id:int}", user, methods=["GET"])])
