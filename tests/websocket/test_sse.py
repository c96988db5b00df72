"""Server-Sent Events: resuming after Last-Event-ID, and prompt clean-up without heartbeats."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest

import porch
from porch import EventStream, Header, ServerSentEvent
from porch.web.testing import live_server

pytestmark = pytest.mark.timeout(30)


def feed_app() -> tuple[porch.App, threading.Event]:
    app = porch.App()
    closed = threading.Event()
    log = [f"event {n}" for n in range(1, 11)]  # what a real app keeps in a store

    @app.get("/feed")
    def feed(request: porch.Request) -> EventStream:
        after = int(request.last_event_id or 0)

        async def events() -> AsyncIterator[ServerSentEvent]:
            for n in range(after + 1, min(after + 3, len(log)) + 1):
                yield ServerSentEvent(log[n - 1], id=str(n))

        return EventStream(events(), retry=2000)

    @app.get("/feed-param")
    def feed_param(last_event_id: Annotated[str | None, Header()] = None) -> EventStream:
        async def events() -> AsyncIterator[str]:
            yield f"resumed after {last_event_id}"

        return EventStream(events())

    @app.get("/quiet")
    def quiet() -> EventStream:
        async def events() -> AsyncIterator[str]:
            try:
                yield "hello"
                await asyncio.Event().wait()  # nothing more, ever
                yield "never"
            finally:
                closed.set()

        return EventStream(events(), ping=None)  # no heartbeat writes to notice the client

    return app, closed


def test_resume_after_last_event_id():
    app, _ = feed_app()
    with live_server(app) as server, httpx.Client(base_url=server.url) as client:
        first = client.get("/feed")
        assert first.text == (
            "retry: 2000\n\nid: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\n"
            "id: 3\ndata: event 3\n\n"
        )
        again = client.get("/feed", headers={"last-event-id": "3"})
        assert "id: 4\ndata: event 4" in again.text and "event 3" not in again.text
        assert client.get("/feed-param", headers={"last-event-id": "9"}).text == (
            "data: resumed after 9\n\n"
        )
    assert porch.Request.build(headers=[("Last-Event-ID", "42")]).last_event_id == "42"
    assert porch.Request.build().last_event_id is None


def test_source_is_closed_promptly_when_the_client_goes_away():
    app, closed = feed_app()
    with live_server(app) as server:
        with httpx.Client(base_url=server.url) as client, client.stream("GET", "/quiet") as r:
            lines = r.iter_lines()
            assert next(lines) == "data: hello"
            assert not closed.is_set()
        # the client hung up; with no heartbeat to fail, the server notices the close itself
        assert closed.wait(5)
