from porch import JSONResponse, Request, Response, StreamingResponse
import asyncio

async def app(request: Request) -> Response:
    if request.path == "/json":
        return JSONResponse({"message": "Hello, World!"})
    if request.path == "/echo":
        return Response(await request.body(), media_type="application/octet-stream")
    if request.path == "/sleep":
        await asyncio.sleep(0.01)
        return Response("slept", media_type="text/plain")
    if request.path == "/stream":
        async def gen():
            for i in range(3):
                yield f"part {i}\n"
        return StreamingResponse(gen(), media_type="text/plain")
    if request.path == "/boom":
        raise RuntimeError("boom")
    return Response(b"Hello, World!", media_type="text/plain")
