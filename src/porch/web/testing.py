"""Testing helpers: an in-process client for native apps, and a real server in a thread.

``with TestClient(app) as client:`` runs the app's ``startup()`` and ``shutdown()`` (when it
has them) on an event loop in a background thread, so tests stay plain functions::

    def test_home():
        with TestClient(app) as client:
            response = client.get("/", params={"q": "x"})
            assert response.status_code == 200

No socket is opened: each call builds a `porch.Request` (its body fed through a
`RequestBody`, as the server feeds it), awaits the app, and completes the response the way
the server would (``for_request()`` for file and streamed bodies, the framing headers, no body
for HEAD, 204 and 304). The server's error rules apply: an `HTTPError` escaping a native app
becomes its status, any other exception a 500 — or is raised in the test with
``raise_server_exceptions=True``.

`live_server(app, **config)` runs the real porch server on a free port instead, for tests
that need real sockets (or another HTTP client).
"""

from __future__ import annotations

import asyncio
import http.cookies
import inspect
import logging
import secrets
import socket
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import quote, urlencode, urljoin, urlsplit

import msgspec

from porch.datastructures import FRAMING_HEADERS, Headers
from porch.errors import ClientDisconnected, HTTPError
from porch.http.writer import body_allowed
from porch.request import ConnectionInfo, Request, RequestBody
from porch.response import FileBody, Response, close_body, internal_error, iterate_body

if TYPE_CHECKING:
    from porch.server import Server

__all__ = ["LiveServer", "TestClient", "TestResponse", "live_server"]

logger = logging.getLogger("porch.error")
T = TypeVar("T")
NativeApp = Callable[[Request], Awaitable[Response]]
FileValue = bytes | str | BinaryIO
FileSpec = FileValue | tuple[str | None, FileValue] | tuple[str | None, FileValue, str]
FilesInit = Mapping[str, FileSpec] | Iterable[tuple[str, FileSpec]]
# Body bytes per feed, as the network would deliver them: parsers see several chunks.
CHUNK = 64 * 1024
MAX_REDIRECTS = 20
_REDIRECTS = frozenset((301, 302, 303, 307, 308))


class TestResponse:
    """What the app answered: `status_code`, `headers` (case-insensitive; `getlist` for
    repeated fields), `content`, `text`, `json()`, `cookies` (set by this response), and
    `history` (the redirects followed to get here)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, method: str, url: str, status: int, headers: Headers, content: bytes
    ) -> None:
        self.method = method
        self.url = url
        self.status_code = status
        self.headers = headers
        self.content = content
        self.history: list[TestResponse] = []

    @property
    def text(self) -> str:
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        return self.content.decode(charset, "replace")

    def json(self) -> Any:
        return msgspec.json.decode(self.content)

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies this response sets (a deletion gives an empty value)."""
        return {name: value for name, value, _ in _set_cookies(self.headers)}

    @property
    def is_redirect(self) -> bool:
        return self.status_code in _REDIRECTS and "location" in self.headers

    def __repr__(self) -> str:
        return f"<TestResponse {self.status_code} {self.method} {self.url}>"


class TestClient:
    """Call a native porch app in-process, as a browser-like client with a cookie jar.

    `base_url` gives the scheme and Host of requests. Redirects are not followed unless
    `follow_redirects` (here or per request). `cookies` is a plain name -> value jar: cookies
    the app sets are kept and sent back (Path, Domain and Secure are not taken into account;
    Max-Age=0 or a past Expires deletes).

    `raise_server_exceptions` is off by default (unlike Starlette's): a test sees the 500 a
    client would. Response bodies are read to the end before a call returns, so an endless
    stream (an event stream that never closes) needs `live_server` and a streaming client.
    Without ``with``, requests still work (on a loop started on first use) but no
    start-up or shut-down hook runs; call `close()` after.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        *,
        raise_server_exceptions: bool = False,
        follow_redirects: bool = False,
        cookies: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        client: tuple[str, int] = ("testclient", 50000),
    ) -> None:
        self.app = app
        self.base_url = base_url.rstrip("/")
        self.raise_server_exceptions = raise_server_exceptions
        self.follow_redirects = follow_redirects
        self.cookies: dict[str, str] = dict(cookies or {})
        self.headers: dict[str, str] = dict(headers or {})
        self.client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lifespan = False

    # event loop and lifespan -----------------------------------------------------------------

    def __enter__(self) -> TestClient:
        self._start_loop()
        try:
            self._call_hook("startup")
        except BaseException:
            self.close()
            raise
        self._lifespan = True
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._lifespan:
                self._lifespan = False
                self._call_hook("shutdown")
        finally:
            self.close()

    def close(self) -> None:
        """Stop the event loop thread (without running shutdown hooks)."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    def _start_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()
            # Close what the app left behind, as asyncio.run would.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())

        thread = threading.Thread(target=run, name="porch-testclient", daemon=True)
        thread.start()
        started.wait()
        self._loop, self._thread = loop, thread
        return loop

    def _run(self, coro: Awaitable[T]) -> T:
        loop = self._start_loop()

        async def call() -> T:
            return await coro

        future: Future[T] = asyncio.run_coroutine_threadsafe(call(), loop)
        return future.result()

    def _call_hook(self, name: str) -> None:
        hook = getattr(self.app, name, None)
        if hook is not None and inspect.iscoroutinefunction(hook):
            self._run(hook())

    # requests -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        files: FilesInit | None = None,
        content: bytes | str | None = None,
        follow_redirects: bool | None = None,
    ) -> TestResponse:
        """Send one request (and the redirects after it, if followed); see `get` & co."""
        method = method.upper()
        url = self._url(url, params)
        fields = dict(self.headers)
        fields.update(headers or {})
        body = _encode_body(fields, json, data, files, content)
        follow = self.follow_redirects if follow_redirects is None else follow_redirects
        history: list[TestResponse] = []
        while True:
            response = self._send(method, url, fields, body, cookies)
            if not (follow and response.is_redirect):
                response.history = history
                return response
            if len(history) >= MAX_REDIRECTS:
                raise RuntimeError(f"more than {MAX_REDIRECTS} redirects from {url}")
            history.append(response)
            url = urljoin(url, response.headers["location"])
            if response.status_code in (301, 302, 303) and method != "HEAD":
                method, body = "GET", b""
                fields = {k: v for k, v in fields.items() if k.lower() not in ("content-type",)}

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request("DELETE", url, **kwargs)

    def _url(self, url: str, params: Any) -> str:
        if not urlsplit(url).scheme:
            url = self.base_url + ("" if url.startswith("/") else "/") + url
        if params:
            items = params.items() if isinstance(params, Mapping) else params
            pairs = [(k, v) for k, value in items for v in (value if _is_list(value) else [value])]
            url += ("&" if "?" in url else "?") + urlencode(pairs)
        return url

    def _send(
        self,
        method: str,
        url: str,
        fields: Mapping[str, str],
        body: bytes,
        cookies: Mapping[str, str] | None,
    ) -> TestResponse:
        parts = urlsplit(url)
        target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~") + (
            "?" + quote(parts.query, safe="=&%+/?:@!$'()*,;~") if parts.query else ""
        )
        sent = {k.lower(): v for k, v in fields.items()}
        sent.setdefault("host", parts.netloc)
        sent.setdefault("user-agent", "porch-testclient")
        if body or method in ("POST", "PUT", "PATCH"):
            sent["content-length"] = str(len(body))
        jar = {**self.cookies, **(cookies or {})}
        if jar and "cookie" not in sent:
            sent["cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
        request = Request.build(method, target, list(sent.items()), b"", self.client)
        request.conn = ConnectionInfo(self.client, ("127.0.0.1", 80), parts.scheme or "http")
        if body:
            request.body_kind, request.content_length = 1, len(body)
            request._body_bytes = None
            reader = request._body = RequestBody(_Source(), False, len(body))
            for start in range(0, len(body), CHUNK):
                reader.feed(body[start : start + CHUNK])
            reader.finish()
        status, headers, content = self._run(self._call(request))
        response = TestResponse(method, url, status, Headers(headers), content)
        self._store_cookies(response)
        return response

    def _store_cookies(self, response: TestResponse) -> None:
        for name, value, expired in _set_cookies(response.headers):
            if expired:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    # the server's part, in-process --------------------------------------------------------

    async def _call(self, request: Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        try:
            response = await self.app(request)
            if not isinstance(response, Response):
                raise TypeError(
                    f"the app returned {type(response).__name__} instead of a porch Response"
                )
            if response.stream is not None:
                response = response.for_request(request)
        except Exception as exc:
            response = self._error_response(request, exc)
        try:
            content = await _read_body(request, response)
        except Exception as exc:
            if self.raise_server_exceptions:
                raise
            # The server has sent the head: the client sees the body cut short.
            logger.error("Exception while streaming the response", exc_info=exc)
            content = b""
        return response.status, _wire_headers(request, response, content), content

    def _error_response(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPError):
            return Response(exc.detail + "\n", exc.status, exc.headers, "text/plain")
        if isinstance(exc, ClientDisconnected):
            return Response(b"", 499)
        if self.raise_server_exceptions:
            raise exc
        logger.error("Exception in app for %s %s", request.method, request.path, exc_info=exc)
        return internal_error()


class _Source:
    """The connection side of a body that is in memory already: nothing to pause."""

    def pause_body(self) -> None:
        pass

    def resume_body(self) -> None:
        pass

    def send_continue(self) -> None:
        pass


async def _read_body(request: Request, response: Response) -> bytes:
    """The body bytes the server would send; iterators and files are read to the end."""
    stream = response.stream
    if stream is None:
        return response.body if request.method != "HEAD" and body_allowed(response.status) else b""
    try:
        if request.method == "HEAD" or not body_allowed(response.status):
            return b""
        parts: list[bytes] = []
        async for piece in iterate_body(stream):
            parts.append(piece.encode(response.charset) if isinstance(piece, str) else piece)
        return b"".join(parts)
    finally:
        await close_body(stream)


def _wire_headers(
    request: Request, response: Response, content: bytes
) -> list[tuple[bytes, bytes]]:
    """The response's fields as the server frames them: its own Content-Length or chunked
    encoding in place of the app's framing fields."""
    fields = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
        if name not in FRAMING_HEADERS
    ]
    stream = response.stream
    declared = response.headers.get("content-length")
    if stream is None:
        length: int | None = len(response.body)
    elif isinstance(stream, FileBody):
        length = stream.count
    elif declared is not None and declared.isdigit():
        length = int(declared)
    else:
        length = None
    if not body_allowed(response.status):
        return fields
    if length is not None:
        fields.append((b"content-length", str(length).encode()))
    elif request.method != "HEAD":
        fields.append((b"transfer-encoding", b"chunked"))
    return fields


def _set_cookies(headers: Headers) -> Iterator[tuple[str, str, bool]]:
    """(name, value, expired) for each Set-Cookie field."""
    for field in headers.getlist("set-cookie"):
        jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        try:
            jar.load(field)
        except http.cookies.CookieError:
            continue
        for name, morsel in jar.items():
            yield name, morsel.value, _expired(morsel)


def _expired(morsel: http.cookies.Morsel[str]) -> bool:
    max_age = morsel["max-age"]
    if max_age:
        try:
            return int(max_age) <= 0
        except ValueError:
            return False
    expires = morsel["expires"]
    if expires:
        try:
            when = parsedate_to_datetime(expires)
        except (TypeError, ValueError):
            return False
        return when.timestamp() <= datetime.now(UTC).timestamp()
    return False


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _encode_body(
    fields: dict[str, str],
    json: Any,
    data: Any,
    files: FilesInit | None,
    content: bytes | str | None,
) -> bytes:
    """The body bytes; sets Content-Type in `fields` unless the caller gave one."""
    present = {k.lower() for k in fields}

    def content_type(value: str) -> None:
        if "content-type" not in present:
            fields["content-type"] = value

    if content is not None:
        return content.encode() if isinstance(content, str) else content
    if json is not None:
        content_type("application/json")
        return msgspec.json.encode(json)
    items = data.items() if isinstance(data, Mapping) else (data or [])
    pairs = [(k, v) for k, value in items for v in (value if _is_list(value) else [value])]
    if files:
        boundary = secrets.token_hex(16)
        content_type(f"multipart/form-data; boundary={boundary}")
        return _multipart(boundary, pairs, files)
    if data is not None:
        content_type("application/x-www-form-urlencoded")
        return urlencode(pairs).encode("ascii")
    return b""


def _multipart(boundary: str, pairs: list[tuple[str, Any]], files: FilesInit) -> bytes:
    out: list[bytes] = []
    dash = f"--{boundary}\r\n".encode()
    for name, value in pairs:
        out += [dash, f'Content-Disposition: form-data; name="{_q(name)}"\r\n\r\n'.encode()]
        out += [value if isinstance(value, bytes) else str(value).encode(), b"\r\n"]
    file_items = files.items() if isinstance(files, Mapping) else files
    for name, spec in file_items:
        filename, value, media_type = _file_spec(name, spec)
        disposition = f'form-data; name="{_q(name)}"'
        if filename is not None:
            disposition += f'; filename="{_q(filename)}"'
        out += [
            dash,
            f"Content-Disposition: {disposition}\r\n".encode(),
            f"Content-Type: {media_type}\r\n\r\n".encode(),
            value,
            b"\r\n",
        ]
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _file_spec(name: str, spec: FileSpec) -> tuple[str | None, bytes, str]:
    """(filename, content, media type) from ``content``, ``(filename, content)`` or
    ``(filename, content, media_type)``; an open file's content is read."""
    media_type = "application/octet-stream"
    if isinstance(spec, tuple):
        filename, value = spec[0], spec[1]
        if len(spec) == 3:
            media_type = spec[2]
    else:
        value = spec
        filename = name if isinstance(spec, bytes | str) else getattr(spec, "name", name)
    if isinstance(value, str):
        return filename, value.encode(), media_type
    if isinstance(value, bytes):
        return filename, value, media_type
    return filename, value.read(), media_type


def _q(text: str) -> str:
    """A name as browsers put it in a quoted-string (HTML's multipart encoding)."""
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


# a real server -------------------------------------------------------------------------------


class LiveServer:
    """A porch server listening on 127.0.0.1:`port` in a background thread."""

    def __init__(self, server: Server, port: int, thread: threading.Thread) -> None:
        self.server = server
        self.port = port
        self.thread = thread

    @property
    def url(self) -> str:
        scheme = "https" if self.server.config.ssl_certfile else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def connect(self, timeout: float = 5.0) -> socket.socket:
        """A raw TCP connection to the server (for bytes no HTTP client would send)."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)


@contextmanager
def live_server(app: Any, ready_timeout: float = 10.0, **config: Any) -> Iterator[LiveServer]:
    """Serve `app` with the real porch server on a free port in a thread, until the block
    ends (then shut down gracefully). ``config`` are `porch.Config` fields."""
    from porch.config import Config
    from porch.server import Server

    config.setdefault("access_log", False)
    config.setdefault("env", "development")  # a test server, like the test client
    settings = Config(host="127.0.0.1", port=0, **config)
    server = Server(app, settings)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            server.run(install_signals=False)
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)
            server.started.set()

    thread = threading.Thread(target=target, name="porch-live-server", daemon=True)
    thread.start()
    if not server.started.wait(ready_timeout) or errors:
        server.stop()
        raise RuntimeError(f"the server did not start: {errors}")
    port = int(server.addresses[0].rsplit(":", 1)[1])
    try:
        yield LiveServer(server, port, thread)
    finally:
        server.stop()
        thread.join(settings.timeout_graceful + 5)
        if errors:
            raise errors[0]
