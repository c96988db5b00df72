"""Plaintext/JSON app written against porch's native contract."""

from porch import JSONResponse, Request, Response

_HELLO = b"Hello, World!"


async def app(request: Request) -> Response:
    if request.path == "/json":
        return JSONResponse({"message": "Hello, World!"})
    return Response(_HELLO, media_type="text/plain")
