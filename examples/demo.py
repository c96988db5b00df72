"""porch's demo app: one page per capability of the server, the static engine and the framework.

Run it with ``make demo`` (or ``porch serve examples.demo:app --env development``; in
production mode set ``PORCH_SECRET_KEY`` first) and open http://127.0.0.1:8000.
"""

from __future__ import annotations

import asyncio
import html
import os
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from porch import (
    App,
    Blueprint,
    EventStream,
    Header,
    HTTPError,
    PlainTextResponse,
    RedirectResponse,
    Request,
    Response,
    ServerSentEvent,
    StreamingResponse,
    WebSocket,
)
from porch.cache import MemoryCache, cache_response
from porch.db import Database, Model, Session
from porch.security import SecurityHeaders, csrf_token, flash, get_flashed_messages
from porch.templates import Templates
from porch.web.gzip import GZip

HERE = os.path.dirname(os.path.abspath(__file__))

app = App(openapi=True, title="porch demo", version="0.1.0")
app.static("/static", os.path.join(HERE, "static"), max_age=60)
app.middleware(SecurityHeaders())  # nosniff, X-Frame-Options, Referrer-Policy, COOP
app.middleware(GZip())  # text-like responses of 500 bytes or more, when the client accepts
pages_cache = MemoryCache(prefix="demo:")

PAGES = [
    ("/plaintext", "GET", "the TechEmpower plaintext response"),
    ("/json", "GET", "a JSON body encoded by msgspec"),
    ("/users/42?verbose=true", "GET", "a typed path parameter and a query parameter"),
    ("/users/abc", "GET", "a path that does not convert: 404"),
    ("/search?q=porch&page=two", "GET", "a query parameter that fails validation: 422"),
    ("/request?name=porch&tag=a&tag=b", "GET", "what the server parsed from your request"),
    ("/api/items", "POST", "a JSON body validated against a msgspec Struct (a blueprint)"),
    ("/upload", "GET", "a form with a file upload (multipart, streamed, spooled)"),
    ("/visits", "GET", "a cookie with safe defaults (HttpOnly, SameSite=Lax)"),
    ("/stream?n=5", "GET", "a chunked response produced by an async generator"),
    ("/clock", "GET", "Server-Sent Events: a live clock"),
    ("/chat", "GET", "WebSockets: a chat room (@app.websocket, broadcast to every tab)"),
    ("/slow?ms=300", "GET", "a handler that awaits before answering"),
    ("/blocking", "GET", "a plain def handler: runs in the thread pool"),
    ("/error", "GET", "an exception in a handler: a 500, and the server carries on"),
    ("/teapot", "GET", "an HTTPError raised by a handler"),
    ("/static/", "GET", "static files: listing, ETags, ranges, precompressed .gz siblings"),
    ("/notes", "GET", "notes in SQLite (porch.db, a session per request) and a Jinja2 template"),
    ("/docs", "GET", "the OpenAPI 3.1 document, rendered"),
    ("/account", "GET", "a session counter, flash messages and a CSRF-protected form"),
    ("/cached", "GET", "a page cached for 10 s by @cache_response, with an ETag"),
]

# Answered by the server itself, before the app, when `make demo` passes these flags
# (--health-path /healthz --ready-path /readyz --metrics-path /metrics).
SERVER_PAGES = [
    ("/healthz", "liveness probe (--health-path)"),
    ("/readyz", "readiness probe, 503 while draining (--ready-path)"),
    ("/metrics", "Prometheus metrics (--metrics-path)"),
]


def page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="/static/demo.css"></head>
<body>{body}</body></html>"""


@app.get("/")
async def index() -> str:
    rows = "\n".join(
        f'<tr><td><code>{method}</code></td><td><a href="{html.escape(path)}">'
        f"{html.escape(path)}</a></td><td>{html.escape(text)}</td></tr>"
        for path, method, text in PAGES
    )
    server_rows = "\n".join(
        f'<tr><td><code>GET</code></td><td><a href="{path}">{path}</a></td>'
        f"<td>{html.escape(text)}</td></tr>"
        for path, text in SERVER_PAGES
    )
    return page(
        "porch demo",
        "<h1>porch is running</h1><p>Each page below shows one thing porch does. The app is a "
        "<code>porch.App</code> in <code>examples/demo.py</code>.</p>"
        f"<table>{rows}</table>"
        "<h2>Answered by the server</h2><p>With the flags <code>make demo</code> passes:</p>"
        f"<table>{server_rows}</table>"
        "<h2>Your existing apps</h2><p>The same server runs Flask, Django, FastAPI and "
        "Starlette apps unmodified: <code>porch serve examples.hosting.flask_hello:app</code> "
        "or <code>porch serve examples.hosting.fastapi_hello:app</code>; add "
        "<code>--workers 2</code> for one process per core, <code>--reload</code> while you "
        "edit (docs/hosting.md, docs/workers.md).</p>",
    )


@app.get("/plaintext")
async def plaintext() -> Response:
    return PlainTextResponse("Hello, World!")


@app.get("/json")
async def json() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/users/{id:int}", name="user")
async def user(id: int, verbose: bool = False) -> dict[str, object]:
    """A user by id; `verbose` adds where to find it."""
    found: dict[str, object] = {"id": id, "name": f"user-{id}"}
    if verbose:
        found["url"] = app.url_for("user", id=id)
    return found


@app.get("/search")
async def search(q: str, page: int = 1) -> dict[str, object]:
    return {"q": q, "page": page, "results": []}


@app.get("/request")
async def show_request(
    request: Request, user_agent: Annotated[str, Header()] = "-"
) -> dict[str, object]:
    return {
        "method": request.method,
        "path": request.path,
        "url": request.url,
        "http_version": request.http_version,
        "client": request.client,
        "user_agent": user_agent,
        "query": {key: request.query.getlist(key) for key in request.query},
        "headers": request.headers.multi_items(),
        "cookies": request.cookies,
    }


api = Blueprint("api", url_prefix="/api")


class Item(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    tags: list[str] = []


@api.post("/items")
async def create_item(item: Item) -> tuple[Item, int]:
    """Create an item (try a quantity of 0 or a missing name)."""
    return item, 201


@api.get("/items")
async def items_help() -> str:
    return page(
        "POST /api/items",
        '<h1>POST a JSON item</h1><pre>curl -d \'{"name": "tea", "quantity": 2}\' '
        "-H 'content-type: application/json' http://127.0.0.1:8000/api/items</pre>"
        "<p>A quantity of 0 or a missing name gives a 422 that names the field.</p>",
    )


app.include(api)


@app.get("/upload")
async def upload_form(request: Request) -> str:
    return page(
        "Upload",
        '<h1>Upload a file</h1><form method="post" enctype="multipart/form-data">'
        f'<input type="hidden" name="csrf_token" value="{csrf_token(request)}">'
        '<p><label>Note <input name="note"></label></p>'
        '<p><input type="file" name="file"></p><p><button>Send</button></p></form>',
    )


@app.post("/upload")
async def upload(request: Request) -> dict[str, object]:
    form = await request.form(max_file_size=50 * 1024 * 1024)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise HTTPError(400, "Choose a file to upload")
    data = await upload.read()
    return {"note": form.get("note"), "filename": upload.filename, "bytes": len(data)}


@app.get("/visits")
async def visits(request: Request) -> Response:
    raw = request.cookies.get("visits", "0")
    count = (int(raw) if raw.isdigit() and len(raw) < 9 else 0) + 1
    response = PlainTextResponse(f"You have seen this page {count} time(s).\n")
    response.set_cookie("visits", str(count), max_age=3600)
    return response


@app.get("/stream")
async def stream(n: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5) -> Response:
    async def lines() -> AsyncIterator[str]:
        for i in range(1, n + 1):
            yield f"line {i} of {n}\n"
            await asyncio.sleep(0.05)

    return StreamingResponse(lines(), media_type="text/plain")


@app.get("/clock")
async def clock() -> str:
    return page(
        "Clock",
        '<h1>Server time</h1><p id="now">connecting…</p>'
        '<script>new EventSource("/clock/events").onmessage ='
        ' e => { document.getElementById("now").textContent = e.data; };</script>',
    )


@app.get("/clock/events")
async def clock_events(count: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 600) -> Response:
    async def ticks() -> AsyncIterator[ServerSentEvent]:
        for n in range(count):
            yield ServerSentEvent(time.strftime("%H:%M:%S UTC", time.gmtime()), id=str(n))
            await asyncio.sleep(1)

    return EventStream(ticks(), ping=15)


@app.get("/slow")
async def slow(ms: Annotated[int, msgspec.Meta(ge=0, le=5000)] = 300) -> Response:
    await asyncio.sleep(ms / 1000)
    return PlainTextResponse(f"answered after {ms} ms\n")


@app.get("/blocking")
def blocking() -> Response:
    time.sleep(0.05)  # a blocking call is fine here: plain def handlers run in threads
    return PlainTextResponse("done in a worker thread\n")


@app.get("/error")
async def error() -> str:
    raise RuntimeError("this exception is on purpose; see the server log")


@app.get("/teapot")
async def teapot() -> str:
    raise HTTPError(418, "I'm a teapot")


# WebSockets: every open /chat tab is in this set; a message goes to all of them.
CHAT: set[WebSocket] = set()


@app.get("/chat")
async def chat() -> str:
    return page(
        "Chat",
        "<h1>Chat</h1><p>Open this page in two tabs and type in one.</p>"
        '<form id="f"><input id="m" autocomplete="off" placeholder="say something">'
        '<button>send</button></form><ul id="log"></ul><script>'
        'const ws = new WebSocket(location.href.replace(/^http/, "ws") + "/ws");'
        'ws.onmessage = e => { const li = document.createElement("li");'
        ' li.textContent = e.data; document.getElementById("log").append(li); };'
        'document.getElementById("f").onsubmit = e => { e.preventDefault();'
        ' const m = document.getElementById("m"); ws.send(m.value); m.value = ""; };'
        "</script>",
    )


@app.websocket("/chat/ws")
async def chat_socket(ws: WebSocket) -> None:
    await ws.accept()
    CHAT.add(ws)
    try:
        await ws.send(f"welcome: {len(CHAT)} in the room")
        async for message in ws:
            text = message if isinstance(message, str) else "(binary)"
            for member in list(CHAT):
                if not member.closed:
                    await member.send(text[:500])
    finally:
        CHAT.discard(ws)


@app.get("/account")
async def account(request: Request) -> str:
    session = request.session
    session["views"] = session.get("views", 0) + 1
    notes = "".join(
        f'<p class="{html.escape(kind)}">{html.escape(text)}</p>'
        for kind, text in get_flashed_messages(request, with_categories=True)
    )
    return page(
        "Account",
        f"<h1>Your session</h1>{notes}<p>You have seen this page {session['views']} time(s) "
        f"in this session; your name is {html.escape(session.get('name', 'not set'))}.</p>"
        '<form method="post">'
        f'<input type="hidden" name="csrf_token" value="{csrf_token(request)}">'
        '<p><label>Name <input name="name" maxlength="40" required></label></p>'
        "<p><button>Save</button></p></form>"
        "<p>The form carries a CSRF token: the same post from another site is refused.</p>",
    )


@app.post("/account")
async def save_account(request: Request) -> Response:
    form = await request.form()
    name = str(form.get("name") or "").strip()[:40]
    if not name:
        flash(request, "Type a name.", "error")
    else:
        request.session["name"] = name
        flash(request, f"Saved: hello, {name}.", "success")
    return RedirectResponse("/account", 303)


@app.get("/cached")
@cache_response(ttl=10, cache=pages_cache, etag=True)
async def cached_page() -> str:
    await asyncio.sleep(0.2)  # a slow query, done once per 10 s
    made = time.strftime("%H:%M:%S")
    return page("Cached", f"<h1>Made at {made}</h1><p>Reload: the time stays for 10 s.</p>")


# --- the data layer: porch.db and porch.templates ------------------------------------------
# A SQLite file in the temp folder (or $PORCH_DATABASE_URL); tables made at start-up, as a
# quick start does (a real project runs `porch db init` and migrations: docs/database.md).

NOTE_LENGTH = 200
db = Database(
    os.environ.get("PORCH_DATABASE_URL")
    or f"sqlite:///{os.path.join(tempfile.gettempdir(), 'porch-demo.db')}",
    app=app,
    check_migrations=False,
)
templates = Templates("templates", app=app)


class DemoNote(Model):
    __tablename__ = "demo_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(NOTE_LENGTH))


@app.on_startup
async def create_tables() -> None:
    await db.create_all()


@app.get("/notes")
async def notes(request: Request, db: Session) -> Response:
    found = await db.scalars(select(DemoNote).order_by(DemoNote.id.desc()).limit(50))
    return templates.render(
        request, "notes.html", notes=list(found), where=db_where(), max_length=NOTE_LENGTH
    )


@app.post("/notes")
async def add_note(request: Request, db: Session) -> Response:
    form = await request.form()
    text = form.get("text")
    if not isinstance(text, str) or not 1 <= len(text.strip()) <= NOTE_LENGTH:
        raise HTTPError(422, f"A note is 1 to {NOTE_LENGTH} characters of text")
    db.add(DemoNote(text=text.strip()))
    return RedirectResponse(app.url_for("notes"), 303)


def db_where() -> str:
    return db.target.where()
