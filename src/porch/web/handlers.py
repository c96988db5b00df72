"""Calling handlers: what each parameter receives, sync handlers in threads, return values.

A handler's signature is read once, when the app freezes. A parameter annotated
`porch.Request` (any name) receives the request; one named like a path parameter receives
its converted value; any other parameter is read from the query string and converted to its
annotation (``int``, ``float``, ``bool``, ``str``, or ``list[...]`` of those), with its default
when absent. Conversion failures are 422 errors that name the parameter.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

import msgspec

from porch.errors import HTTPError
from porch.request import Request
from porch.response import HTMLResponse, JSONResponse, Response

__all__ = ["Invoker", "compile_handler", "to_response"]

Invoker = Callable[[Request, dict[str, Any]], Awaitable[Any]]
_MISSING = inspect.Parameter.empty
_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off", ""))


class _Query:
    """How one query parameter is read."""

    __slots__ = ("name", "kind", "many", "default")

    def __init__(self, name: str, annotation: Any, default: Any) -> None:
        self.name = name
        self.default = default
        origin = typing.get_origin(annotation)
        if origin is typing.Union or isinstance(annotation, type(int | None)):  # Optional[X]
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = options[0] if len(options) == 1 else str
            origin = typing.get_origin(annotation)
        self.many = origin is list
        if self.many:
            args = typing.get_args(annotation)
            annotation = args[0] if args else str
        self.kind = annotation if annotation in (int, float, bool, str) else str

    def read(self, request: Request) -> Any:
        query = request.query
        if self.many:
            values = query.getlist(self.name)
            if not values and self.default is not _MISSING:
                return self.default
            return [self._convert(v) for v in values]
        value = query.get(self.name)
        if value is None:
            if self.default is _MISSING:
                raise _invalid(self.name, "query", "field required")
            return self.default
        return self._convert(value)

    def _convert(self, value: str) -> Any:
        kind = self.kind
        if kind is str:
            return value
        if kind is bool:
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise _invalid(self.name, "query", f"expected a boolean, got {value!r}")
        try:
            return kind(value)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise _invalid(self.name, "query", f"expected {what}, got {value!r}") from None


def _invalid(name: str, where: str, message: str) -> HTTPError:
    error = HTTPError(422, f"Invalid {where} parameter {name!r}: {message}")
    error.errors = [{"loc": [where, name], "msg": message}]  # type: ignore[attr-defined]
    return error


def _plan(func: Callable[..., Any], path_params: list[str]) -> list[tuple[str, str, Any]]:
    """For each parameter of `func`: (name, where its value comes from, how to read it)."""
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable annotations: fall back to names and defaults
        hints = {}
    plan: list[tuple[str, str, Any]] = []
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{func.__qualname__}: *args and **kwargs cannot be filled")
        annotation = hints.get(name, param.annotation)
        if isinstance(annotation, type) and issubclass(annotation, Request):
            plan.append((name, "request", None))
        elif name in path_params:
            plan.append((name, "path", None))
        else:
            plan.append((name, "query", _Query(name, annotation, param.default)))
    missing = [p for p in path_params if p not in signature.parameters]
    if missing:
        raise TypeError(
            f"{func.__qualname__} does not take the path parameter(s) {', '.join(missing)}"
        )
    return plan


def compile_handler(
    func: Callable[..., Any], path_params: list[str], executor: Executor
) -> Invoker:
    """An `Invoker` that calls `func` with what its signature asks for."""
    plan = _plan(func, path_params)
    is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - an async callable object
    )

    def arguments(request: Request, params: dict[str, Any]) -> dict[str, Any]:
        kwargs = {}
        for name, source, detail in plan:
            if source == "request":
                kwargs[name] = request
            elif source == "path":
                kwargs[name] = params[name]
            else:
                kwargs[name] = detail.read(request)
        return kwargs

    if is_async:
        if not plan:
            return lambda request, params: func()
        if plan == [(plan[0][0], "request", None)]:
            return lambda request, params: func(request)

        async def call_async(request: Request, params: dict[str, Any]) -> Any:
            return await func(**arguments(request, params))

        return call_async

    async def call_sync(request: Request, params: dict[str, Any]) -> Any:
        call = functools.partial(func, **arguments(request, params))
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, context.run, call)

    return call_sync


def to_response(value: Any) -> Response:
    """What a handler returned, as a Response.

    str -> HTML; bytes -> application/octet-stream; dict, list, msgspec Struct or dataclass ->
    JSON; ``(body, status)`` or ``(body, status, headers)``; a Response as it is.
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
    raise TypeError(
        f"a handler returned {type(value).__name__}; return a str, bytes, dict, list, "
        "(body, status[, headers]) or a porch Response"
    )


def _is_structured(value: Any) -> bool:
    return isinstance(value, msgspec.Struct) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    )
