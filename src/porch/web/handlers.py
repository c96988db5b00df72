"""Calling handlers: what each parameter receives, sync handlers in threads, return values.

A handler's signature is read once, when the app freezes (`porch.web.params.analyze`): the
request, path parameters, query parameters, headers, cookies and the JSON body are converted
to their annotations and checked (msgspec types and ``Meta`` constraints). Every failing field
is reported in one 422 error whose body is ``{"detail": [{"loc": [...], "msg": ...}]}``.
A handler that takes nothing, or only the request, is called without any of this.
Provided parameters (`porch.web.params.Provider`, e.g. a database session) are opened around
the call only for the handlers that ask for one: the others pay nothing for them.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from contextlib import AbstractAsyncContextManager, AsyncExitStack, ExitStack
from typing import Any

import msgspec

from porch.errors import HTTPError
from porch.request import Request
from porch.response import HTMLResponse, JSONResponse, Response
from porch.web.params import (
    Field,
    Invalid,
    Provider,
    analyze,
    is_pydantic,
    provider_for,
    read_body,
)

__all__ = ["Invoker", "compile_handler", "to_response"]

Invoker = Callable[[Request, dict[str, Any]], Awaitable[Any]]
Binder = Callable[[Request, dict[str, Any]], Awaitable[dict[str, Any]]]


def _unprocessable(errors: list[dict[str, Any]]) -> HTTPError:
    names = ", ".join(".".join(str(part) for part in e["loc"]) for e in errors)
    return HTTPError(422, f"Invalid request: {names}", errors=errors)


def _collector(
    fields: list[Field],
) -> Callable[[Request, dict[str, Any], list[Any]], dict[str, Any]]:
    """Fills the keyword arguments but the body's, adding every failure to `errors`."""
    plain = [f for f in fields if f.where not in ("body", "provided")]

    def collect(request: Request, params: dict[str, Any], errors: list[Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for field in plain:
            if field.where == "request":
                kwargs[field.name] = request
                continue
            try:
                kwargs[field.name] = field.read(request, params)
            except Invalid as exc:
                errors.extend(exc.errors)
        return kwargs

    return collect


def _binder(fields: list[Field]) -> Binder:
    """The keyword arguments for one request, or one 422 that lists every failing field."""
    collect = _collector(fields)
    body = next((f for f in fields if f.where == "body"), None)

    async def bind(request: Request, params: dict[str, Any]) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        kwargs = collect(request, params, errors)
        if body is not None:
            try:
                kwargs[body.name] = await read_body(body, request)
            except Invalid as exc:
                errors.extend(exc.errors)
        if errors:
            raise _unprocessable(errors)
        return kwargs

    return bind


def _sync_binder(fields: list[Field]) -> Callable[[Request, dict[str, Any]], dict[str, Any]]:
    """`_binder` without a coroutine, for handlers that take no body."""
    collect = _collector(fields)

    def bind(request: Request, params: dict[str, Any]) -> dict[str, Any]:
        errors: list[dict[str, Any]] = []
        kwargs = collect(request, params, errors)
        if errors:
            raise _unprocessable(errors)
        return kwargs

    return bind


def compile_handler(
    func: Callable[..., Any],
    path_params: list[str],
    executor: Executor,
    providers: dict[Any, Provider] | None = None,
) -> Invoker:
    """An `Invoker` that calls `func` with what its signature asks for."""
    fields = analyze(func, path_params)
    is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - an async callable object
    )
    if any(f.where == "provided" for f in fields):
        return _with_providers(func, fields, is_async, executor, providers or {})
    if is_async:
        if not fields:
            return lambda request, params: func()
        if len(fields) == 1 and fields[0].where == "request":
            return lambda request, params: func(request)
    if not any(f.where == "body" for f in fields):
        bind_now = _sync_binder(fields)
        if is_async:
            return lambda request, params: func(**bind_now(request, params))

        async def call_sync_now(request: Request, params: dict[str, Any]) -> Any:
            return await _in_thread(executor, functools.partial(func, **bind_now(request, params)))

        return call_sync_now
    bind = _binder(fields)
    if is_async:

        async def call_async(request: Request, params: dict[str, Any]) -> Any:
            return await func(**await bind(request, params))

        return call_async

    async def call_sync(request: Request, params: dict[str, Any]) -> Any:
        return await _in_thread(executor, functools.partial(func, **await bind(request, params)))

    return call_sync


def _with_providers(
    func: Callable[..., Any],
    fields: list[Field],
    is_async: bool,
    executor: Executor,
    providers: dict[Any, Provider],
) -> Invoker:
    """The invoker of a handler with provided parameters: each is opened before the call and
    closed after it with the call's outcome (the exception, if it raised)."""
    wanted = [(f.name, provider_for(f, providers, func)) for f in fields if f.where == "provided"]
    bind = _binder(fields)
    if is_async:
        opens = _openers(func, wanted, "open")
        if len(opens) == 1:  # the common case (one database session): no exit stack
            return _with_one(func, fields, *opens[0])

        async def call_async(request: Request, params: dict[str, Any]) -> Any:
            kwargs = await bind(request, params)
            async with AsyncExitStack() as stack:
                for name, open_value in opens:
                    kwargs[name] = await stack.enter_async_context(open_value(request))
                return await func(**kwargs)

        return call_async
    sync_opens = _openers(func, wanted, "open_sync")

    async def call_sync(request: Request, params: dict[str, Any]) -> Any:
        kwargs = await bind(request, params)

        def run() -> Any:  # in the worker thread: the values are made and closed there too
            with ExitStack() as stack:
                for name, open_value in sync_opens:
                    kwargs[name] = stack.enter_context(open_value(request))
                return func(**kwargs)

        return await _in_thread(executor, run)

    return call_sync


def _with_one(
    func: Callable[..., Any],
    fields: list[Field],
    name: str,
    open_value: Callable[[Request], AbstractAsyncContextManager[Any]],
) -> Invoker:
    """An async handler with one provided parameter."""
    if any(f.where == "body" for f in fields):
        bind = _binder(fields)

        async def call_with_body(request: Request, params: dict[str, Any]) -> Any:
            kwargs = await bind(request, params)
            async with open_value(request) as kwargs[name]:
                return await func(**kwargs)

        return call_with_body
    bind_now = _sync_binder(fields)

    async def call(request: Request, params: dict[str, Any]) -> Any:
        kwargs = bind_now(request, params)
        async with open_value(request) as kwargs[name]:
            return await func(**kwargs)

    return call


def _openers(
    func: Callable[..., Any], wanted: list[tuple[str, Provider]], kind: str
) -> list[tuple[str, Any]]:
    """Each provider's opener of `kind` (``open`` for async handlers, ``open_sync`` for
    sync ones), or a `TypeError` with the provider's hint when it has none of that kind."""
    found = []
    for name, provider in wanted:
        opener = getattr(provider, kind)
        if opener is None:
            raise TypeError(f"{func.__qualname__}: parameter {name!r} {provider.hint}")
        found.append((name, opener))
    return found


async def _in_thread(executor: Executor, call: Callable[[], Any]) -> Any:
    """Run a sync handler in the pool, with the caller's context variables."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(executor, context.run, call)


def to_response(value: Any) -> Response:
    """What a handler returned, as a Response.

    str -> HTML; bytes -> application/octet-stream; dict, list, msgspec Struct or dataclass ->
    JSON (pydantic models too); ``(body, status)`` or ``(body, status, headers)``; a Response
    as it is.
    """
    if isinstance(value, Response):
        return value
    if isinstance(value, tuple):
        if not 2 <= len(value) <= 3:
            raise TypeError(f"a handler's tuple must be (body, status[, headers]), not {value!r}")
        response = to_response(value[0])
        response.status = value[1]
        if len(value) == 3 and value[2]:
            response.headers.update(value[2])
        return response
    if isinstance(value, str):
        return HTMLResponse(value)
    if isinstance(value, bytes):
        return Response(value, media_type="application/octet-stream")
    if isinstance(value, dict | list) or _is_structured(value):
        return JSONResponse(value)
    if is_pydantic(type(value)):
        return JSONResponse(value.model_dump(mode="json"))
    raise TypeError(
        f"a handler returned {type(value).__name__}; return a str, bytes, dict, list, "
        "(body, status[, headers]) or a porch Response"
    )


def _is_structured(value: Any) -> bool:
    return isinstance(value, msgspec.Struct) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    )
