"""Cookies with safe defaults, and Server-Sent Events with heartbeats and prompt clean-up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import httpx
import pytest

from porch import EventStream, Request, Response, ServerSentEvent


def test_set_cookie_defaults_and_options():
    response = Response(b"")
    response.set_cookie("sid", "abc123")
    response.set_cookie(
        "pref",
        "dark",
        max_age=3600,
        secure=True,
        samesite="strict",
        domain="example.com",
        httponly=False,
    )
    response.set_cookie("cross", "1", samesite="none")
    response.delete_cookie("old")
    assert response.headers.getlist("set-cookie") == [
        "sid=abc123; Path=/; SameSite=Lax; HttpOnly",
        "pref=dark; Max-Age=3600; Path=/; Domain=example.com; SameSite=Strict; Secure",
        "cross=1; Path=/; SameSite=None; Secure; HttpOnly",
        "old=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; SameSite=Lax; HttpOnly",
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bad key", "v"),
        ("k;", "v"),
        ("k", "a b"),
        ("k", 'a"b'),
        ("k", "a;b"),
        ("k", "a\r\nb"),
        ("k", "é"),
    ],
)
def test_set_cookie_refuses_what_could_break_the_header(key, value):
    with pytest.raises(ValueError):
        Response(b"").set_cookie(key, value)


def test_server_sent_event_encoding():
    assert ServerSentEvent("a\nb\r\nc", event="update", id="7", retry=500).encode() == (
        b"event: update\nid: 7\nretry: 500\ndata: a\ndata: b\ndata: c\n\n"
    )
    assert ServerSentEvent({"n": 1}).encode() == b'data: {"n":1}\n\n'
    with pytest.raises(ValueError):
        ServerSentEvent("x", event="a\nevent: forged").encode()


def test_event_stream_over_http_with_last_event_id(serve):
    async def app(request: Request) -> Response:
        start = int(request.headers.get("last-event-id", "0"))

        async def events() -> AsyncIterator[ServerSentEvent]:
            for n in range(start + 1, start + 4):
                yield ServerSentEvent(f"tick {n}", id=str(n))

        return EventStream(events(), retry=1000)

    with serve(app) as srv, httpx.Client(base_url=srv.url) as client:
        response = client.get("/", headers={"last-event-id": "5"})
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.text == (
            "retry: 1000\n\nid: 6\ndata: tick 6\n\nid: 7\ndata: tick 7\n\nid: 8\ndata: tick 8\n\n"
        )


def test_heartbeats_while_quiet_and_cleanup_when_the_client_leaves(serve):
    closed = threading.Event()
    release = asyncio.Event()

    async def app(request: Request) -> Response:
        async def events() -> AsyncIterator[str]:
            try:
                yield "first"
                await release.wait()  # quiet: only heartbeats go out
                yield "never"
            finally:
                closed.set()

        return EventStream(events(), ping=0.05)

    with serve(app) as srv:
        with httpx.Client(base_url=srv.url) as client, client.stream("GET", "/") as response:
            lines = response.iter_lines()
            assert next(lines) == "data: first"
            assert next(lines) == ""
            assert next(lines) == ": ping"  # the source stayed quiet; a heartbeat came
        # The client is gone: the server stops the stream and the source's finally runs.
        assert closed.wait(5)
