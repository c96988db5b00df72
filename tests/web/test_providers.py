"""Provided handler parameters (porch.web.params.Provider): made per request, closed after
the handler with its outcome, in the handler's thread for sync handlers; refused at freeze
when the app has no provider or not the kind the handler needs."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest

import porch
from porch.web.params import Provider, provided
from porch.web.testing import TestClient


class Clock:
    """A provided type of the tests: records how each request's value ended."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.thread = threading.current_thread().name


provided(Clock, "give the app a Clock provider")


def clock_app(log: list[str]) -> porch.App:
    app = porch.App()

    @asynccontextmanager
    async def open_clock(request: porch.Request) -> AsyncIterator[Clock]:
        log.append(f"open {request.path}")
        try:
            yield Clock(log)
        except BaseException as exc:
            log.append(f"failed {type(exc).__name__}")
            raise
        else:
            log.append("ok")

    @contextmanager
    def open_sync_clock(request: porch.Request) -> Iterator[Clock]:
        log.append(f"open-sync {threading.current_thread().name}")
        yield Clock(log)
        log.append("ok-sync")

    app.providers[Clock] = Provider(open_clock, open_sync_clock)

    @app.get("/async")
    async def async_handler(clock: Clock, n: int = 1) -> dict[str, int]:
        clock.log.append("handler")
        return {"n": n}

    @app.get("/boom")
    async def boom(clock: Clock) -> str:
        raise porch.HTTPError(409, "no")

    @app.get("/sync")
    def sync_handler(clock: Clock) -> dict[str, str]:
        return {"thread": clock.thread}

    return app


def test_async_handler_value_is_opened_and_closed_around_the_call() -> None:
    log: list[str] = []
    with TestClient(clock_app(log)) as client:
        assert client.get("/async?n=3").json() == {"n": 3}
        assert log == ["open /async", "handler", "ok"]
        log.clear()
        assert client.get("/boom").status_code == 409
        assert log == ["open /boom", "failed HTTPError"]
        log.clear()
        # Validation fails before anything is opened.
        assert client.get("/async?n=x").status_code == 422
        assert log == []


def test_sync_handler_value_is_made_in_the_worker_thread() -> None:
    log: list[str] = []
    with TestClient(clock_app(log)) as client:
        thread = client.get("/sync").json()["thread"]
    assert thread.startswith("porch-handler")
    assert log == [f"open-sync {thread}", "ok-sync"]


def test_missing_provider_is_refused_at_freeze() -> None:
    app = porch.App()

    @app.get("/x")
    async def handler(clock: Clock) -> str:
        return "x"

    with pytest.raises(TypeError, match="give the app a Clock provider"):
        app.freeze()


def test_provider_without_the_sync_kind_is_refused() -> None:
    app = porch.App()
    app.providers[Clock] = Provider(None, None, "has no sync opener here")

    @app.get("/x")
    def handler(clock: Clock) -> str:
        return "x"

    with pytest.raises(TypeError, match="has no sync opener here"):
        app.freeze()
