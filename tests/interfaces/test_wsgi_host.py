"""porch hosting WSGI apps, checked against PEP 3333 (and wsgiref.validate)."""

from __future__ import annotations

import hashlib
import io
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import httpx
import pytest

from porch.interfaces import FileWrapper, adapt
from porch.web.testing import live_server
from tests.conftest import Reader, exchange, read_response

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def serve(app: Any, *, root_path: str = "", threads: int = 16, **config: Any) -> Any:
    return live_server(adapt(app, "wsgi", root_path=root_path, threads=threads), **config)


def hello(environ: Environ, start_response: StartResponse) -> list[bytes]:
    body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [body]


def test_validated_app_serves_requests_of_every_kind() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        data = b""
        while piece := environ["wsgi.input"].read(65536):  # the validator wants a size
            data += piece
        environ["wsgi.errors"].write("")
        body = b"%s %d" % (environ["REQUEST_METHOD"].encode(), len(data))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    with serve(validator(app)) as srv:
        base = f"http://127.0.0.1:{srv.port}"
        with httpx.Client(base_url=base) as client:
            assert client.get("/a?b=c").text == "GET 0"
            assert client.post("/", content=b"x" * 100).text == "POST 100"
            assert client.put("/", content=b"y" * 200_000).text == "PUT 200000"
            assert client.post("/", content=iter([b"chunk"] * 3)).text == "POST 15"


def test_environ_follows_pep_3333() -> None:
    seen: list[Environ] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(environ)
        start_response("204 No Content", [])
        return []

    with serve(app, root_path="/mount") as srv:
        raw = (
            b"POST /mount/caf%C3%A9/x%2Fy?q=%20a HTTP/1.1\r\nHost: example.test:8080\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 3\r\nX-Multi: 1\r\nX-Multi: 2\r\n"
            b"X_Spoofed: evil\r\nCookie: a=1\r\nCookie: b=2\r\nConnection: close\r\n\r\nabc"
        )
        assert exchange(srv.port, raw).startswith(b"HTTP/1.1 204 ")
    (env,) = seen
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == "/mount"
    assert env["PATH_INFO"] == "/café/x/y".encode().decode("latin-1")  # bytes as latin-1
    assert env["QUERY_STRING"] == "q=%20a"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "3"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"] == "127.0.0.1" and env["SERVER_PORT"] == str(srv.port)
    assert env["HTTP_HOST"] == "example.test:8080"
    assert env["HTTP_X_MULTI"] == "1, 2"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert "HTTP_X_SPOOFED" not in env  # underscores could pass for dashes: dropped
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["REMOTE_PORT"].isdigit()
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True and env["wsgi.run_once"] is False
    assert env["wsgi.errors"] is sys.stderr
    assert all(isinstance(v, str) for k, v in env.items() if k.isupper())


def test_path_stripped_by_the_proxy_still_gets_the_root_path() -> None:
    seen: list[Environ] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(environ)
        start_response("200 OK", [])
        return [b""]

    with serve(app, root_path="/mount") as srv:
        httpx.get(f"http://127.0.0.1:{srv.port}/mountain")
    assert (seen[0]["SCRIPT_NAME"], seen[0]["PATH_INFO"]) == ("/mount", "/mountain")


def test_large_chunked_upload_streams_through_wsgi_input() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        assert "CONTENT_LENGTH" not in environ and environ["wsgi.input_terminated"]
        stream = environ["wsgi.input"]
        digest = hashlib.sha256()
        size = 0
        while data := stream.read(8192):
            assert len(data) <= 8192
            digest.update(data)
            size += len(data)
        start_response("200 OK", [])
        return [f"{size} {digest.hexdigest()}".encode()]

    data = bytes(range(256)) * 16384  # 4 MiB

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(data), 100_000):
            yield data[i : i + 100_000]

    with serve(app) as srv:
        response = httpx.post(f"http://127.0.0.1:{srv.port}/", content=pieces(), timeout=20)
    assert response.text == f"{len(data)} {hashlib.sha256(data).hexdigest()}"


def test_readline_and_iteration_over_a_streamed_body() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        stream = environ["wsgi.input"]
        first = stream.readline()
        limited = stream.readline(3)
        rest = list(stream)
        start_response("200 OK", [])
        return [repr((first, limited, rest)).encode()]

    body = b"line one\nabcdef\n" + b"z" * 70_000 + b"\nlast"
    with serve(app) as srv:
        response = httpx.post(f"http://127.0.0.1:{srv.port}/", content=body)
    expected = (b"line one\n", b"abc", [b"def\n", b"z" * 70_000 + b"\n", b"last"])
    assert response.text == repr(expected)


def test_client_leaving_mid_body_raises_oserror_in_the_app() -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        try:
            environ["wsgi.input"].read()
        except OSError as exc:
            errors.append(exc)
        finally:
            done.set()
        start_response("200 OK", [])
        return [b""]

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n")
            sock.sendall(b"x" * 100_000)
        assert done.wait(5)
    assert len(errors) == 1


def test_response_streams_as_produced_and_close_is_called() -> None:
    release = threading.Event()
    closed = threading.Event()

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"first"
            assert release.wait(5)
            yield b"second"

        def close(self) -> None:
            closed.set()

    def app(environ: Environ, start_response: StartResponse) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            seen = b""
            while b"first" not in seen:
                seen += sock.recv(65536)
            assert not closed.is_set()
            release.set()
            while not seen.endswith(b"0\r\n\r\n"):
                seen += sock.recv(65536)
        assert b"second" in seen
        assert closed.wait(5)


def test_client_leaving_mid_stream_stops_iteration_and_calls_close() -> None:
    closed = threading.Event()
    produced = 0

    class Endless:
        def __iter__(self) -> Iterator[bytes]:
            nonlocal produced
            while True:
                produced += 1
                yield b"x" * 65536

        def close(self) -> None:
            closed.set()

    def app(environ: Environ, start_response: StartResponse) -> Any:
        start_response("200 OK", [])
        return Endless()

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(1000)
        assert closed.wait(5)
    assert produced < 2000  # stopped, not run on forever


def test_close_is_called_when_iteration_raises(caplog: pytest.LogCaptureFixture) -> None:
    closed = threading.Event()

    class Failing:
        def __iter__(self) -> Iterator[bytes]:
            raise RuntimeError("broken body")
            yield b""  # pragma: no cover

        def close(self) -> None:
            closed.set()

    def app(environ: Environ, start_response: StartResponse) -> Any:
        if environ["PATH_INFO"] == "/ok":
            return hello(environ, start_response)
        start_response("200 OK", [])
        return Failing()

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            reader = Reader(sock)
            sock.sendall(b"GET /bad HTTP/1.1\r\nHost: x\r\n\r\n")
            assert reader.response()[0] == 500
            sock.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            assert reader.response()[2] == b"Hello, World!"
    assert closed.is_set()
    assert "broken body" in caplog.text


def test_exc_info_replaces_headers_not_yet_sent() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("X-First", "1")])
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("503 Service Unavailable", [("X-Second", "2")], sys.exc_info())
        return [b"sorry"]

    with serve(app) as srv:
        response = httpx.get(f"http://127.0.0.1:{srv.port}/")
    assert response.status_code == 503
    assert response.text == "sorry"
    assert "x-first" not in response.headers and response.headers["x-second"] == "2"


def test_exc_info_after_headers_went_out_reraises_and_cuts_the_body() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"partial"
        try:
            raise ValueError("too late")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        yield b"never"  # pragma: no cover

    release = threading.Event()

    def slow(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        gen = app(environ, start_response)
        yield next(gen)
        release.wait(5)  # let the first chunk leave before the error
        yield from gen

    with serve(slow) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            seen = b""
            while b"partial" not in seen:
                seen += sock.recv(65536)
            release.set()
            while data := sock.recv(65536):
                seen += data
    assert seen.startswith(b"HTTP/1.1 200 ")
    assert b"never" not in seen and not seen.endswith(b"0\r\n\r\n")


def test_second_start_response_without_exc_info_is_a_500() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b""]

    with serve(app) as srv:
        assert httpx.get(f"http://127.0.0.1:{srv.port}/").status_code == 500


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        ("200", []),
        ("OK 200", []),
        ("200 OK", [("X-Bad", "a\r\nInjected: yes")]),
        ("200 OK", [("Connection", "close")]),
        ("200 OK", (("X-Tuple", "not a list"),)),
    ],
)
def test_invalid_status_or_headers_are_a_500(status: str, headers: Any) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response(status, headers)
        return [b"body"]

    with serve(app) as srv:
        response = httpx.get(f"http://127.0.0.1:{srv.port}/")
    assert response.status_code == 500
    assert "injected" not in response.headers


def test_write_callable_sends_before_the_iterable() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"returned"]

    with serve(app) as srv:
        assert httpx.get(f"http://127.0.0.1:{srv.port}/").text == "written returned"


def test_file_wrapper_sends_the_file(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    data = bytes(range(256)) * 8192  # 2 MiB
    path.write_bytes(data)

    def app(environ: Environ, start_response: StartResponse) -> Any:
        assert environ["wsgi.file_wrapper"] is FileWrapper
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        if environ["PATH_INFO"] == "/memory":
            return environ["wsgi.file_wrapper"](io.BytesIO(b"in memory"))
        handle = open(path, "rb")  # noqa: SIM115 - the wrapper's close() closes it
        if environ["PATH_INFO"] == "/offset":
            handle.seek(1000)
        return environ["wsgi.file_wrapper"](handle)

    with serve(app) as srv:
        base = f"http://127.0.0.1:{srv.port}"
        with httpx.Client(base_url=base) as client:
            whole = client.get("/")
            assert whole.content == data
            assert whole.headers["content-length"] == str(len(data))
            assert client.get("/offset").content == data[1000:]
            assert client.get("/memory").content == b"in memory"


def test_head_keeps_the_apps_content_length() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "4321")])
        return []

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status, headers, _ = Reader(sock).response(head_only=True)
    assert (status, headers["content-length"]) == (200, "4321")


def test_keep_alive_is_kept_across_requests() -> None:
    with serve(hello) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            reader = Reader(sock)
            for _ in range(5):
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                status, headers, body = reader.response()
                assert (status, body) == (200, b"Hello, World!")
                assert "connection" not in headers
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 3)  # pipelined
            assert [reader.response()[2] for _ in range(3)] == [b"Hello, World!"] * 3


def test_threads_bound_how_many_requests_run_at_once() -> None:
    running = 0
    most = 0
    lock = threading.Lock()
    gate = threading.Event()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            if running == 2:
                gate.set()
        gate.wait(5)
        time.sleep(0.01)
        with lock:
            running -= 1
        start_response("200 OK", [])
        return [b"done"]

    async_clients = 6
    results: list[int] = []

    def fetch(port: int) -> None:
        results.append(httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code)

    with serve(app, threads=2) as srv:
        workers = [threading.Thread(target=fetch, args=(srv.port,)) for _ in range(async_clients)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10)
    assert results == [200] * async_clients
    assert most == 2


def test_app_exception_is_a_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        raise KeyError("missing thing")

    with serve(app) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status, _, body = read_response(sock)
    assert status == 500 and b"missing thing" not in body
    assert "missing thing" in caplog.text
