"""The live feed (SSE), the cached stats page, and the async call that blocks nothing."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import httpx
import pytest
from examples.showcase.feed import Broadcaster, TooManySubscribers

from tests.showcase.conftest import register, unique


def events(lines):
    """(event, data) pairs from an SSE response's lines."""
    name = None
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            yield name, json.loads(line[6:])
            name = None


def test_new_posts_reach_live_listeners(site, client):
    auth = {"authorization": f"Bearer {register(client, unique('live'))}"}
    with httpx.Client(base_url=site.url, timeout=10) as listener:
        with listener.stream("GET", "/live/posts") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            received = events(stream.iter_lines())
            assert next(received)[0] == "ready"  # subscribed: nothing posted from now is missed
            post = client.post("/api/posts", json={"title": "Live!", "body": "b"}, headers=auth)
            name, data = next(received)
            assert name == "post"
            assert data["id"] == post.json()["id"]
            assert data["title"] == "Live!" and data["url"] == f"/posts/{data['id']}"


def test_a_reconnecting_listener_gets_what_it_missed(site, client):
    auth = {"authorization": f"Bearer {register(client, unique('missed'))}"}
    first = client.post("/api/posts", json={"title": "one", "body": "b"}, headers=auth).json()
    second = client.post("/api/posts", json={"title": "two", "body": "b"}, headers=auth).json()
    headers = {"last-event-id": str(first["id"] - 1)}
    with httpx.Client(base_url=site.url, timeout=10) as listener:
        with listener.stream("GET", "/live/posts", headers=headers) as stream:
            received = events(stream.iter_lines())
            assert next(received)[0] == "ready"
            caught = [next(received)[1], next(received)[1]]
    assert [m["id"] for m in caught] == [first["id"], second["id"]]
    assert caught[0]["created_at"].endswith("+00:00")  # read back from SQLite: UTC, said so


def test_the_broadcaster_is_bounded():
    async def scenario() -> None:
        feed = Broadcaster(max_subscribers=2, queue_size=2)
        slow, fast = feed.subscribe(), feed.subscribe()
        with pytest.raises(TooManySubscribers):
            feed.subscribe()
        for n in range(3):
            feed.publish({"n": n})
            assert await anext(fast) == {"n": n}
        # `slow` read nothing: dropped at its third message, after the two it holds.
        assert feed.subscribers == 1
        assert [m async for m in slow] == [{"n": 0}, {"n": 1}]
        await fast.aclose()
        assert feed.subscribers == 0

    asyncio.run(scenario())


def test_the_stats_page_is_served_from_the_cache_until_a_post(client):
    def computed_at() -> str:
        page = client.get("/stats").text
        return page.split('id="computed-at">')[1].split("<")[0]

    first = computed_at()
    assert computed_at() == first  # a hit: not computed again
    assert client.get("/api/stats").json()["computed_at"] == first
    posts = client.get("/api/stats").json()["posts"]
    auth = {"authorization": f"Bearer {register(client, unique('stats'))}"}
    client.post("/api/posts", json={"title": "counted", "body": "b"}, headers=auth)
    assert computed_at() != first  # the post cleared it
    assert client.get("/api/stats").json()["posts"] == posts + 1


def test_a_slow_external_call_does_not_block_other_requests(site):
    delay = 3.0  # the simulated service's latency; the other request takes milliseconds
    result: dict[str, object] = {}

    def slow() -> None:
        with httpx.Client(base_url=site.url, timeout=20) as c:
            start = time.monotonic()
            result["response"] = c.get(f"/quote?delay={delay}")
            result["elapsed"] = time.monotonic() - start

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        with httpx.Client(base_url=site.url, timeout=10) as other:
            deadline = time.monotonic() + 10
            # Wait for the event: the service has the slow call in hand.
            while other.get("/services/status").json()["in_flight"] == 0:
                assert time.monotonic() < deadline, "the slow call never reached the service"
            start = time.monotonic()
            assert other.get("/").status_code == 200
            assert time.monotonic() - start < delay / 2
            assert thread.is_alive()  # answered while the quote was still being awaited
    finally:
        thread.join(20)
    response = result["response"]
    assert isinstance(response, httpx.Response) and response.status_code == 200
    assert "Quote of the moment" in response.text and "blockquote" in response.text
    assert result["elapsed"] >= delay


def test_the_quote_page_bounds_its_delay(client):
    assert client.get("/quote?delay=60").status_code == 422


def test_a_full_live_feed_says_so_with_a_503(client, monkeypatch):
    from examples.showcase.feed import feed

    monkeypatch.setattr(feed, "max_subscribers", feed.subscribers)  # full from now on
    refused = client.get("/live/posts")
    assert refused.status_code == 503
    assert "listeners already" in refused.text
    assert refused.headers["retry-after"] == "30"


def test_an_unreachable_service_is_a_502_page_that_says_so(client, monkeypatch):
    from examples.showcase.blueprints import pages

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setattr(pages.quotes, "base_url", f"http://127.0.0.1:{port}")
    failed = client.get("/quote")
    assert failed.status_code == 502
    assert "The quote service failed" in failed.text
