"""Start a coroutine as a task, eagerly when asked and Python allows it.

An app's code must always run inside a task: `asyncio.timeout()`, `asyncio.current_task()`
and anyio's cancel scopes need one, even before the first ``await``. On Python 3.12 and
later a task can start eagerly: a coroutine that finishes without suspending is done when
`start_task` returns, with no trip through the event loop; the server uses that to answer
pipelined requests together in one write. On 3.11 every task is scheduled as usual.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["EAGER", "start_task"]

T = TypeVar("T")
EAGER = sys.version_info >= (3, 12)


def start_task(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, T],
    context: contextvars.Context | None = None,
    eager: bool = True,
) -> asyncio.Task[T]:
    """`coro` as a task of `loop`, started eagerly if `eager` and supported (see the module)."""
    if eager and EAGER:
        return asyncio.Task(coro, loop=loop, context=context, eager_start=True)  # type: ignore[call-arg,unused-ignore]
    return loop.create_task(coro, context=context)
