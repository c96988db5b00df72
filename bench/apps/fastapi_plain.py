"""The `hosting` suite's FastAPI app (ASGI): one route answering `Hello, World!` as text/plain."""

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/fastapi/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return "Hello, World!"
