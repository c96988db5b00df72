"""OpenAPI 3.1 from routes and type hints, and the routes that serve it.

`build()` reads each route's handler with the same `analyze()` that validates requests, so
the document describes exactly what is checked. Schemas come from
``msgspec.json.schema_components`` (pydantic models from ``model_json_schema``) and live
under ``#/components/schemas``. `install()` adds ``/openapi.json`` and ``/docs`` to an app
before it freezes; those two routes are left out of the document.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Iterable
from typing import Any

import msgspec

from porch.response import HTMLResponse, Response
from porch.web.docs_page import DOCS_HTML
from porch.web.params import Field, analyze, is_body_type, is_pydantic, unwrap
from porch.web.routing import Route, Router

__all__ = ["build", "install"]

_REF = "#/components/schemas/{name}"
_TEMPLATE = re.compile(r"{([^{}:]*)(?::[^{}]*)?}")
_CONVERTER_SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": 0},
    "float": {"type": "number", "minimum": 0},
    "uuid": {"type": "string", "format": "uuid"},
}
_METHODS = ("get", "put", "post", "delete", "options", "patch", "trace")
_VALIDATION_ERROR = {
    "title": "ValidationError",
    "type": "object",
    "properties": {
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                },
                "required": ["loc", "msg"],
            },
        }
    },
    "required": ["detail"],
}
_HIDDEN = "__porch_openapi_hidden__"


def exclude(endpoint: Any) -> Any:
    """Leave `endpoint` out of the OpenAPI document (the docs routes, static mounts)."""
    setattr(endpoint, _HIDDEN, True)
    return endpoint


class _Schemas:
    """Collects the types to describe, then turns them into schemas in one pass."""

    def __init__(self) -> None:
        self.types: list[Any] = []
        self.pydantic: dict[str, dict[str, Any]] = {}
        self.slots: list[tuple[dict[str, Any], str, Any]] = []

    def later(self, target: dict[str, Any], key: str, annotation: Any) -> None:
        """Set ``target[key]`` to the schema of `annotation` when `resolve()` runs."""
        self.slots.append((target, key, annotation))

    def resolve(self) -> dict[str, Any]:
        msgspec_types = []
        for _, _, annotation in self.slots:
            if not is_pydantic(unwrap(annotation)):
                msgspec_types.append(annotation)
        schemas, components = _msgspec_schemas(msgspec_types)
        found = iter(schemas)
        for target, key, annotation in self.slots:
            kind = unwrap(annotation)
            if is_pydantic(kind):
                schema = kind.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(schema.pop("$defs", {}))
                components[kind.__name__] = schema
                target[key] = {"$ref": _REF.format(name=kind.__name__)}
            else:
                target[key] = next(found)
        return dict(components)


def _any_schema(kind: type) -> dict[str, Any]:
    """Types msgspec cannot describe (``object``, custom classes) are described as anything."""
    return {}


def _msgspec_schemas(types: list[Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Schemas of `types` with shared components; a type msgspec refuses becomes ``{}``."""
    try:
        found, components = msgspec.json.schema_components(
            types, schema_hook=_any_schema, ref_template=_REF
        )
        return list(found), dict(components)
    except (TypeError, ValueError):  # describe the others, each alone
        schemas: list[dict[str, Any]] = []
        components = {}
        for annotation in types:
            try:
                (one,), more = msgspec.json.schema_components(
                    [annotation], schema_hook=_any_schema, ref_template=_REF
                )
            except (TypeError, ValueError):
                one, more = {}, {}
            schemas.append(one)
            components.update(more)
        return schemas, components


def build(
    routes: Iterable[Route], title: str, version: str, description: str | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for `routes`."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    needs_error = False
    for route in routes:
        if getattr(route.endpoint, _HIDDEN, False):
            continue
        fields = analyze(route.endpoint, route.params)
        item = paths.setdefault(_TEMPLATE.sub(r"{\1}", route.path), {})
        for method in sorted(m.lower() for m in route.methods if m.lower() in _METHODS):
            operation_id = route.name if route.name not in used else f"{route.name}_{method}"
            used.add(operation_id)
            operation = _operation(route, fields, operation_id, schemas)
            needs_error = needs_error or "422" in operation["responses"]
            item[method] = operation
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    document: dict[str, Any] = {"openapi": "3.1.0", "info": info, "paths": paths}
    components = schemas.resolve()
    if needs_error:
        components["ValidationError"] = _VALIDATION_ERROR
    if components:
        document["components"] = {"schemas": components}
    return document


def _operation(
    route: Route, fields: list[Field], operation_id: str, schemas: _Schemas
) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": operation_id}
    doc = inspect.getdoc(route.endpoint)
    if doc:
        summary, _, rest = doc.partition("\n")
        operation["summary"] = summary.strip()
        if rest.strip():
            operation["description"] = rest.strip()
    parameters = []
    for field in fields:
        if field.where in ("request", "body", "provided"):
            continue
        parameter: dict[str, Any] = {
            "name": field.key,
            "in": field.where,
            "required": field.where == "path" or field.required,
        }
        if field.annotation is typing.Any and field.where == "path":
            kind = _converter_name(route, field.name)
            parameter["schema"] = dict(_CONVERTER_SCHEMAS.get(kind, {"type": "string"}))
        elif field.annotation is typing.Any:
            parameter["schema"] = {"type": "string"}
        else:
            schemas.later(parameter, "schema", field.annotation)
        parameters.append(parameter)
    if parameters:
        operation["parameters"] = parameters
    body = next((f for f in fields if f.where == "body"), None)
    if body is not None:
        media: dict[str, Any] = {}
        schemas.later(media, "schema", body.annotation)
        operation["requestBody"] = {
            "required": body.required,
            "content": {"application/json": media},
        }
    operation["responses"] = {"200": _success(route, schemas)}
    if any(f.where not in ("request", "provided") for f in fields):
        operation["responses"]["422"] = {
            "description": "Validation Error",
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(name="ValidationError")}}
            },
        }
    return operation


def _converter_name(route: Route, name: str) -> str:
    for found in _TEMPLATE.finditer(route.path):
        if found.group(1) == name:
            text = found.group(0)[1:-1]
            return text.partition(":")[2] or "str"
    return "str"


def _success(route: Route, schemas: _Schemas) -> dict[str, Any]:
    response: dict[str, Any] = {"description": "Successful Response"}
    try:
        returns = typing.get_type_hints(route.endpoint).get("return")
    except Exception:  # unresolvable annotations: say nothing about the body
        returns = None
    if returns is None:
        return response
    if typing.get_origin(returns) is tuple and typing.get_args(returns):
        returns = typing.get_args(returns)[0]  # (body, status[, headers])
    kind = unwrap(returns)
    if kind is str:
        response["content"] = {"text/html": {"schema": {"type": "string"}}}
    elif is_body_type(kind) or typing.get_origin(kind) is list or kind is list:
        media: dict[str, Any] = {}
        schemas.later(media, "schema", returns)
        response["content"] = {"application/json": media}
    return response


def install(router: Router, document: Any) -> None:
    """Add ``GET /openapi.json`` and ``GET /docs``; `document()` builds the document (once)."""
    cache: list[bytes] = []

    async def openapi_json() -> Response:
        if not cache:
            cache.append(msgspec.json.encode(document()))
        return Response(cache[0], media_type="application/json")

    async def openapi_docs() -> Response:
        return HTMLResponse(DOCS_HTML)

    for endpoint in (openapi_json, openapi_docs):
        exclude(endpoint)
    router.add("/openapi.json", openapi_json, ("GET",), "openapi_json")
    router.add("/docs", openapi_docs, ("GET",), "openapi_docs")
