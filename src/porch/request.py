"""The native contract's request: built by the server's parser, used by the app as it is."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote

import msgspec

from porch.datastructures import Headers, QueryParams
from porch.errors import HTTPError
from porch.http.events import RequestHead

if TYPE_CHECKING:
    from porch.web.forms import FormData

__all__ = ["Channel", "ConnectionInfo", "Request", "RequestBody", "State"]


class State:
    """A namespace for whatever an app wants to keep on a request (``request.state.user``)."""

    def __repr__(self) -> str:
        return f"State({vars(self)!r})"


class ConnectionInfo:
    """Facts about the connection a request came on, shared by its requests; a request
    whose trusted proxy forwarded other facts (``--proxy-headers``) has its own."""

    __slots__ = ("client", "server", "scheme")

    def __init__(
        self,
        client: tuple[str, int] | None,
        server: tuple[str, int] | None,
        scheme: str,
    ) -> None:
        self.client = client
        self.server = server
        self.scheme = scheme


class BodySource(Protocol):
    """What a `RequestBody` asks of the connection that feeds it."""

    def pause_body(self) -> None: ...
    def resume_body(self) -> None: ...
    def send_continue(self) -> None: ...


class Channel(BodySource, Protocol):
    """What a request asks of the connection it came on."""

    @property
    def disconnected(self) -> bool:
        """The client has gone (the connection is closed)."""
        ...

    def wait_disconnected(self) -> asyncio.Future[None]:
        """A future done when the client has gone (shared; never cancel it)."""
        ...


class RequestBody:
    """The body of one request, fed by the connection and read by the app.

    The connection stops reading the socket while more than `high_water` bytes wait here
    unread, and resumes when the app has taken them: a slow app never makes porch buffer a
    whole upload. ``Expect: 100-continue`` is answered the first time the app asks for data.
    """

    __slots__ = (
        "_source",
        "_chunks",
        "_buffered",
        "_high_water",
        "_paused",
        "_waiter",
        "_continue",
        "done",
        "error",
        "discarding",
    )

    def __init__(self, source: BodySource, expect_continue: bool, high_water: int) -> None:
        self._source = source
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._high_water = high_water
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._continue = expect_continue
        self.done = False
        self.error: BaseException | None = None
        self.discarding = False

    # connection side ---------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.discarding:
            return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > self._high_water and not self._paused:
            self._paused = True
            self._source.pause_body()
        self._wake()

    def finish(self) -> None:
        self.done = True
        self._wake()

    def abort(self, error: BaseException) -> None:
        """The body cannot be completed: the next read raises `error`."""
        if not self.done:
            self.error = error
            self._wake()

    def discard(self) -> None:
        """The response is sent without the app having read everything: drop the rest."""
        self.discarding = True
        self._chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            self._source.resume_body()

    @property
    def continue_pending(self) -> bool:
        """The client waits for ``100 Continue`` before it sends the body."""
        return self._continue

    @property
    def exhausted(self) -> bool:
        """Every byte of the body has arrived and has been read."""
        return self.done and not self._chunks

    @property
    def waiting(self) -> bool:
        """The app is blocked reading this body."""
        return self._waiter is not None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # app side ------------------------------------------------------------------------------

    async def read(self) -> bytes:
        """The next chunk; ``b""`` once the body is complete."""
        while not self._chunks:
            if self.error is not None:
                raise self.error
            if self.done:
                return b""
            if self._continue:
                self._continue = False
                self._source.send_continue()
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        data = self._chunks.popleft()
        self._buffered -= len(data)
        if self._paused and self._buffered <= self._high_water // 2:
            self._paused = False
            self._source.resume_body()
        return data


class Request(RequestHead):
    """One HTTP request.

    Parsed fields (`method`, `raw_path`, `query_string`, `http_version`, `raw_headers`, `host`)
    are set by the parser; the rest is computed on first use and cached: `path`, `headers`,
    `query` (alias `args`), `cookies`, `url`. The body is read with `await body()`,
    `await json()` or ``async for chunk in stream()``.
    """

    __slots__ = (
        "conn",
        "_source",
        "_body",
        "_body_bytes",
        "_path",
        "_headers",
        "_query",
        "_cookies",
        "_state",
        "_security",
        "__weakref__",
    )

    def __init__(
        self,
        method: str,
        raw_path: bytes,
        query_string: bytes,
        http_version: str,
        raw_headers: list[tuple[bytes, bytes]],
        keep_alive: bool,
        host: bytes | None,
        body_kind: int,
        content_length: int | None,
        expect_continue: bool,
        upgrade: bytes | None,
    ) -> None:
        self.method = method
        self.raw_path = raw_path
        self.query_string = query_string
        self.http_version = http_version
        self.raw_headers = raw_headers
        self.keep_alive = keep_alive
        self.host = host
        self.body_kind = body_kind
        self.content_length = content_length
        self.expect_continue = expect_continue
        self.upgrade = upgrade
        self.conn: ConnectionInfo | None = None
        self._source: Channel | None = None  # the connection, set by the server
        self._body: RequestBody | None = None
        self._body_bytes: bytes | None = None
        self._path: str | None = None
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._state: State | None = None
        # porch.security's per-request state: the app's guard until the session or the CSRF
        # token is first used, then that request's own context (see porch.security.context).
        self._security: Any = None

    @classmethod
    def build(
        cls,
        method: str = "GET",
        target: str = "/",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        client: tuple[str, int] | None = ("127.0.0.1", 50000),
    ) -> Request:
        """A complete request made in memory, for tests and tools (no connection behind it)."""
        raw_path, _, query = target.encode("latin-1").partition(b"?")
        raw = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers or []]
        host = next((v for n, v in raw if n == b"host"), b"testserver")
        request = cls(
            method,
            raw_path,
            query,
            "1.1",
            raw,
            True,
            host,
            1 if body else 0,
            len(body),
            False,
            None,
        )
        request.conn = ConnectionInfo(client, ("127.0.0.1", 8000), "http")
        request._body_bytes = body
        return request

    # computed on first use -------------------------------------------------------------

    @property
    def path(self) -> str:
        """The percent-decoded path (UTF-8; invalid sequences become U+FFFD)."""
        path = self._path
        if path is None:
            raw = self.raw_path.decode("ascii", "replace")
            path = self._path = unquote(raw) if "%" in raw else raw
        return path

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers(self.raw_headers)
        return headers

    @property
    def query(self) -> QueryParams:
        query = self._query
        if query is None:
            query = self._query = QueryParams(self.query_string)
        return query

    args = query

    @property
    def cookies(self) -> dict[str, str]:
        """Cookie names to values (the first of a repeated name). An odd cookie (spaces,
        JSON, quotes) is kept as it came and never hides the others."""
        cookies = self._cookies
        if cookies is None:
            cookies = {}
            for header in self.headers.getlist("cookie"):
                for pair in header.split(";"):
                    name, sep, value = pair.partition("=")
                    name = name.strip()
                    if not sep or not name:
                        continue
                    value = value.strip()
                    if len(value) >= 2 and value[0] == value[-1] == '"':
                        value = value[1:-1]
                    cookies.setdefault(name, value)
            self._cookies = cookies
        return cookies

    @property
    def state(self) -> State:
        state = self._state
        if state is None:
            state = self._state = State()
        return state

    @property
    def session(self) -> Any:
        """The session (a dict), loaded on first use; see porch.security (``App(sessions=)``)."""
        from porch.security.context import context

        return context(self).session()

    @property
    def client(self) -> tuple[str, int] | None:
        """(host, port) of the peer, or None (UNIX socket)."""
        return self.conn.client if self.conn is not None else None

    @property
    def scheme(self) -> str:
        return self.conn.scheme if self.conn is not None else "http"

    @property
    def url(self) -> str:
        """The full URL from validated parts: scheme, Host (or the server address), target."""
        host = self.host.decode("ascii") if self.host else ""
        if not host and self.conn is not None and self.conn.server is not None:
            address, port = self.conn.server[:2]
            host = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        target = self.raw_path.decode("ascii")
        if self.query_string:
            target += "?" + self.query_string.decode("ascii")
        return f"{self.scheme}://{host}{target}"

    @property
    def content_type(self) -> str:
        """The media type of the body without parameters, lowercased ('' if none)."""
        value = self.headers.get("content-type", "")
        return value.partition(";")[0].strip().lower()

    @property
    def last_event_id(self) -> str | None:
        """The ``Last-Event-ID`` header a reconnecting EventSource sends: the id of the last
        Server-Sent Event it received (None on a first connection). Resume after it."""
        return self.headers.get("last-event-id")

    # the connection --------------------------------------------------------------------

    @property
    def disconnected(self) -> bool:
        """True once the client has closed the connection (never for an in-memory request)."""
        source = self._source
        return source is not None and source.disconnected

    async def wait_disconnected(self) -> None:
        """Wait until the client closes the connection (forever for an in-memory request).
        For long polls and streams that should stop as soon as nobody listens."""
        source = self._source
        if source is None:
            await asyncio.get_running_loop().create_future()
            return
        await asyncio.shield(source.wait_disconnected())

    # body ------------------------------------------------------------------------------

    async def body(self) -> bytes:
        """The whole body (at most the server's body size limit)."""
        data = self._body_bytes
        if data is None:
            reader = self._body
            parts = []
            if reader is not None:
                while chunk := await reader.read():
                    parts.append(chunk)
            data = self._body_bytes = b"".join(parts)
        return data

    async def stream(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk, as it arrives, without keeping it."""
        if self._body_bytes is not None:
            if self._body_bytes:
                yield self._body_bytes
            return
        reader = self._body
        if reader is None:
            return
        while chunk := await reader.read():
            yield chunk

    async def json(self) -> Any:
        """The body decoded as JSON; an invalid body is a 400 that says what is wrong."""
        data = await self.body()
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise HTTPError(400, f"Invalid JSON body: {exc}") from None

    async def form(
        self,
        *,
        max_fields: int = 1000,
        max_files: int = 100,
        max_part_headers: int = 16,
        max_field_size: int = 1024 * 1024,
        max_file_size: int | None = None,
        spool_max_size: int = 1024 * 1024,
    ) -> FormData:
        """The body parsed as a form (urlencoded or multipart) while it streams in.

        Values are ``str``, or `porch.web.forms.UploadFile` for files (spooled to disk past
        `spool_max_size` bytes). A limit exceeded is a 413 naming it; a malformed body a 400;
        another content type a 415. `max_file_size` None leaves files bounded by the server's
        body size limit only. Parsed once: later calls return the same `FormData`.
        """
        from porch.web.forms import FormLimits, parse_form

        limits = FormLimits(
            max_fields, max_files, max_part_headers, max_field_size, max_file_size, spool_max_size
        )
        return await parse_form(self, limits)
