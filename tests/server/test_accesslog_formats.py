"""--access-log-format: combined, JSON lines and templates, safe for any request bytes."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from porch import Request, Response
from porch.config import Config
from porch.errors import ConfigError
from porch.server.accesslog import FIELDS, AccessLog
from tests.conftest import Reader
from tests.server.capture import capture
from tests.server.test_lifecycle import DEADLINE, PorchProcess, get
from tests.test_cli import assert_one_line_error, run_porch

# A quoted field: anything but a bare quote or backslash, or an escape.
QUOTED = r'"((?:[^"\\]|\\.)*)"'


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    yield from capture("porch.access")


class Timed:
    """Answers 'ok'; /work takes 20 ms and remembers how long it took."""

    def __init__(self) -> None:
        self.took = 0.0

    async def __call__(self, request: Request) -> Response:
        if request.path == "/work":
            began = time.perf_counter()
            await asyncio.sleep(0.02)
            self.took = time.perf_counter() - began
        return Response(b"ok")


def send(sock: socket.socket, head: bytes) -> None:
    sock.sendall(head + b"\r\n\r\n")
    assert Reader(sock).response()[0] == 200


def test_default_combined_adds_nothing_to_the_hot_path(serve) -> None:
    with serve(Timed(), access_log=True) as srv:
        assert srv.server.state.observer is None  # the plain protocol, no timing
    with serve(Timed(), access_log=True, access_log_format="json") as srv:
        assert srv.server.state.observer is not None


def test_json_lines(serve, access_lines: list[str]) -> None:
    app = Timed()
    with serve(app, access_log=True, access_log_format="json") as srv, srv.connect() as sock:
        send(
            sock,
            b"GET /work?x=1&y=%22 HTTP/1.1\r\nHost: t\r\nUser-Agent: probe/1\r\n"
            b"Referer: https://r.example/\r\nX-Request-ID: abc-123",
        )
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        Reader(sock).response()
    assert len(access_lines) == 2, access_lines
    first, second = (json.loads(line) for line in access_lines)
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert {k: v for k, v in first.items() if k not in ("time", "duration_ms")} == {
        "client": "127.0.0.1",
        "method": "GET",
        "path": "/work",
        "query": "x=1&y=%22",
        "protocol": "HTTP/1.1",
        "status": 200,
        "size": 2,
        "user_agent": "probe/1",
        "referer": "https://r.example/",
        "request_id": "abc-123",
    }
    assert first["duration_ms"] >= round(app.took * 1000, 3) > 15
    assert "request_id" not in second  # only when the request has one
    assert (second["user_agent"], second["referer"], second["query"]) == (None, None, "")
    assert second["protocol"] == "HTTP/1.0"


def test_json_lines_are_valid_for_hostile_bytes(serve, access_lines: list[str]) -> None:
    path = b'/a"b\\c{"x":1}'  # the parser refuses control and non-ASCII bytes in a path
    agent = b'x"}\t{"status": 500, "forged": "\\u0041 \x80\x9b[2J \xfe'
    with serve(Timed(), access_log=True, access_log_format="json") as srv, srv.connect() as sock:
        send(sock, b"GET " + path + b"?q=\"'\\ HTTP/1.1\r\nHost: t\r\nUser-Agent: " + agent)
    assert len(access_lines) == 1, access_lines
    line = access_lines[0]
    assert line.isascii() and line.isprintable(), line
    record = json.loads(line)
    assert record["status"] == 200 and "forged" not in record
    # Latin-1 decoding: the exact bytes come back
    assert record["path"].encode("latin-1") == path
    assert record["user_agent"].encode("latin-1") == agent
    assert record["query"] == "q=\"'\\"


def test_template_format(serve, access_lines: list[str]) -> None:
    spec = (
        '{client} {method} "{target}" {status} {size} {duration_ms}ms id={request_id} '
        '"{user_agent}"'
    )
    app = Timed()
    with serve(app, access_log=True, access_log_format=spec) as srv, srv.connect() as sock:
        send(sock, b"GET /work?a=1 HTTP/1.1\r\nHost: t\r\nX-Request-ID: r-1\r\nUser-Agent: u")
        send(sock, b'POST /x?"y HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nUser-Agent: a"b\\')
    assert len(access_lines) == 2, access_lines
    pattern = re.compile(
        rf"127\.0\.0\.1 (\w+) {QUOTED} (\d+) (\d+) (\d+\.\d{{3}})ms id=(\S+) {QUOTED}"
    )
    first, second = (pattern.fullmatch(line) for line in access_lines)
    assert first and second, access_lines
    assert first.group(1, 2, 3, 4, 6, 7) == ("GET", "/work?a=1", "200", "2", "r-1", "u")
    assert float(first[5]) >= round(app.took * 1000, 3) > 15
    assert second.group(1, 2, 6, 7) == ("POST", r"/x?\"y", "-", r"a\"b\\")


def test_combined_preset_is_the_standard_line() -> None:
    request = Request.build(
        "GET", "/p?q=1", [("Referer", "https://r/"), ("User-Agent", "ua")], client=("10.0.0.9", 1)
    )
    line = AccessLog("combined").line(request, 404, 12, 0.5)
    assert re.fullmatch(
        r"10\.0\.0\.9 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "
        r'"GET /p\?q=1 HTTP/1\.1" 404 12 "https://r/" "ua"',
        line,
    ), line
    assert not AccessLog("combined").timed
    assert AccessLog("{status} {duration_s}").timed and AccessLog("json").timed
    assert not AccessLog("{status} {size}").timed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{nope}", "unknown field {nope}; the fields are client, time"),
        ("{status:>5}", "{status} takes no format spec or conversion"),
        ("{status!r}", "{status} takes no format spec or conversion"),
        ("{status", "expected '}' before end of string"),
        ("text", "must be combined, json or a template with {fields}; got 'text'"),
        ("{0}", "unknown field {0}"),
        ("{}", "unknown field {}"),
    ],
)
def test_bad_formats_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(access_log_format=spec)
    assert message in str(info.value)


def test_literal_braces() -> None:
    line = AccessLog("{{ {status} }}").line(Request.build(), 200, 0, 0.0)
    assert line == "{ 200 }"


latin1 = st.text(st.characters(max_codepoint=0xFF), max_size=40)


@settings(max_examples=300, deadline=None)
@given(path=latin1, query=latin1, agent=latin1, referer=latin1)
def test_no_input_can_forge_a_line_or_a_field(
    path: str, query: str, agent: str, referer: str
) -> None:
    headers = [("User-Agent", agent), ("Referer", referer), ("X-Request-ID", agent)]
    request = Request.build("GET", "/", headers)
    request.raw_path = ("/" + path).encode("latin-1")  # any bytes, even those parsers refuse
    request.query_string = query.encode("latin-1")
    record = json.loads(AccessLog("json").line(request, 200, 1, 0.001))
    assert record["path"] == "/" + path and record["query"] == query
    assert (record["user_agent"], record["referer"]) == (agent, referer)
    text = AccessLog("combined").line(request, 200, 1, 0.001)
    assert text.isascii() and text.isprintable(), text
    match = re.fullmatch(rf"\S+ - - \[[^]]+\] {QUOTED} 200 1 {QUOTED} {QUOTED}", text)
    assert match, text
    every = AccessLog(" ".join(f'"{{{name}}}"' for name in FIELDS))
    fields = re.findall(QUOTED, every.line(request, 200, 1, 0.001))
    assert len(fields) == len(FIELDS)


def test_cli_json_access_log_on_stdout() -> None:
    with PorchProcess(
        "serve", "tests.apps.lifecycle:app", "--port", "0", "--access-log-format", "json"
    ) as porch:
        port = porch.port()
        assert get(port, "/hello?x=1")[0] == 200
        line = porch.wait_for(r"^\{", stream="stdout", timeout=DEADLINE).string
        porch.proc.terminate()
        assert porch.finish() == 0, porch.transcript()
    record = json.loads(line)
    assert (record["path"], record["query"], record["status"]) == ("/hello", "x=1", 200)


def test_cli_bad_format_is_one_clear_line() -> None:
    result = run_porch("serve", "tests.apps.lifecycle:app", "--access-log-format", "{host} {x}")
    assert_one_line_error(result, "--access-log-format: unknown field {x}")
