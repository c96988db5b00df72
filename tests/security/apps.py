"""Apps that the security tests start with `porch serve` in a child process."""

from porch import App

app = App()


@app.get("/")
async def index() -> str:
    return "hello"
