"""The `framework` suite's app on FastAPI (run by uvicorn with httptools + uvloop).

Idiomatic FastAPI: `id: int` from the path, and `limit` as a validated query parameter,
`Annotated[int, Query(ge=1, le=100)] = 10` (the current spelling of
`limit: int = Query(10, ge=1, le=100)`): pydantic checks the type and the 1..100 range and
answers 422 otherwise. The dict is serialised by FastAPI's default JSONResponse.
"""

from typing import Annotated

from fastapi import FastAPI, Query

app = FastAPI()


@app.get("/users/{id}")
async def user(id: int, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> dict:
    return {"id": id, "limit": limit, "name": f"user-{id}"}
