"""Routing: path templates compiled once, matched to (route, parameters), built back to URLs.

Templates use the OpenAPI-style syntax: ``/users/{id:int}/posts/{slug}``. A parameter without
a converter is ``str`` (one path segment). `Router.match()` only finds; it calls nothing.
`Router.url_for()` is matching reversed. Static paths are a dict lookup; parameterised routes
are tried from the most specific (most literal segments, then the strictest converters), so
the order of registration never decides between ``/users/me`` and ``/users/{name}``.

Trailing slashes are strict: ``/a`` and ``/a/`` are different paths. When only the other form
has a route, `match()` says so (`RedirectSlash`) and the app answers with a 308 redirect.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlencode

from porch.errors import ConfigError, HTTPError

# The pseudo-method of WebSocket routes (`porch.websocket.routes`): upgrade requests only.
WEBSOCKET = "WEBSOCKET"

__all__ = [
    "CONVERTERS",
    "Converter",
    "Match",
    "RedirectSlash",
    "Route",
    "Router",
]


class Converter:
    """Turns one path parameter from text to a value and back. Subclass it for custom types:
    set `regex` (without anchors or groups) and override `to_python` / `to_url`."""

    regex = "[^/]+"
    # Lower sorts first when two routes differ only in this parameter's converter.
    specificity = 50

    def to_python(self, value: str) -> Any:
        return value

    def to_url(self, value: Any) -> str:
        return quote(str(value), safe="")


class IntConverter(Converter):
    regex = "[0-9]+"
    specificity = 10

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"expected a non-negative int, got {value!r}")
        return str(value)


class FloatConverter(Converter):
    regex = r"[0-9]+(?:\.[0-9]+)?"
    specificity = 20

    def to_python(self, value: str) -> float:
        return float(value)

    def to_url(self, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"expected a non-negative number, got {value!r}")
        return repr(float(value))


class UUIDConverter(Converter):
    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    specificity = 5

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)


class PathConverter(Converter):
    """The rest of the path, slashes included (``/files/{name:path}``)."""

    regex = "[^/].*"
    specificity = 90

    def to_url(self, value: Any) -> str:
        return quote(str(value), safe="/")


CONVERTERS: dict[str, type[Converter]] = {
    "str": Converter,
    "int": IntConverter,
    "float": FloatConverter,
    "uuid": UUIDConverter,
    "path": PathConverter,
}

_PARAM = re.compile(r"{([^{}:]*)(?::([^{}]*))?}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Route:
    """One path template with its endpoint, methods and name."""

    __slots__ = (
        "path",
        "endpoint",
        "methods",
        "name",
        "params",
        "converters",
        "pattern",
        "literal",
        "shape",
        "rank",
    )

    def __init__(
        self,
        path: str,
        endpoint: Any,
        methods: Iterable[str] = ("GET",),
        name: str | None = None,
        converters: dict[str, type[Converter]] | None = None,
    ) -> None:
        if not path.startswith("/"):
            raise ConfigError(f"route path {path!r} must start with '/'")
        self.path = path
        self.endpoint = endpoint
        self.methods = frozenset(m.upper() for m in methods)
        if not self.methods:
            raise ConfigError(f"route {path!r} has no methods")
        self.name = name if name is not None else getattr(endpoint, "__name__", path)
        known = converters if converters is not None else CONVERTERS
        self.params: list[str] = []
        self.converters: dict[str, Converter] = {}
        regex, shape, pos = ["^"], [], 0
        ranks: list[int] = []
        for found in _PARAM.finditer(path):
            text = path[pos : found.start()]
            regex.append(re.escape(text))
            shape.append(text)
            name_, kind = found.group(1), found.group(2) or "str"
            if not _IDENTIFIER.fullmatch(name_):
                raise ConfigError(f"route {path!r}: {name_!r} is not a valid parameter name")
            if name_ in self.converters:
                raise ConfigError(f"route {path!r}: parameter {name_!r} appears twice")
            if kind not in known:
                raise ConfigError(
                    f"route {path!r}: unknown converter {kind!r} (known: {', '.join(known)})"
                )
            converter = known[kind]()
            self.params.append(name_)
            self.converters[name_] = converter
            regex.append(f"(?P<{name_}>{converter.regex})")
            shape.append("{" + kind + "}")
            ranks.append(converter.specificity)
            pos = found.end()
        tail = path[pos:]
        if "{" in tail or "}" in tail:
            raise ConfigError(f"route {path!r}: unbalanced braces")
        regex.append(re.escape(tail) + "$")
        shape.append(tail)
        literal = sum(1 for segment in path.split("/") if segment and "{" not in segment)
        self.pattern = re.compile("".join(regex)) if self.params else None
        self.literal = literal
        self.shape = "".join(shape)
        # More literal segments first, then stricter converters, left to right.
        self.rank = (-literal, ranks)

    def match(self, path: str) -> dict[str, Any] | None:
        """The converted parameters if `path` matches, else None. A value the converter
        refuses (``int('9' * 5000)`` is fine; a custom converter may raise) is no match."""
        if self.pattern is None:
            return {} if path == self.path else None
        found = self.pattern.match(path)
        if found is None:
            return None
        try:
            return {k: self.converters[k].to_python(v) for k, v in found.groupdict().items()}
        except (ValueError, TypeError):
            return None

    def build(self, params: dict[str, Any]) -> str:
        """The path for `params` (every parameter of the template, nothing else)."""
        path, pos = [], 0
        for found in _PARAM.finditer(self.path):
            path.append(self.path[pos : found.start()])
            name = found.group(1)
            try:
                text = self.converters[name].to_url(params[name])
            except ValueError as exc:
                raise ValueError(f"url_for({self.name!r}): parameter {name!r}: {exc}") from None
            if not text:
                raise ValueError(f"url_for({self.name!r}): parameter {name!r} is empty")
            path.append(text)
            pos = found.end()
        path.append(self.path[pos:])
        return "".join(path)

    def __repr__(self) -> str:
        return f"<Route {sorted(self.methods)} {self.path} -> {self.name}>"


class Match:
    """The route that matched and its converted path parameters."""

    __slots__ = ("route", "params")

    def __init__(self, route: Route, params: dict[str, Any]) -> None:
        self.route = route
        self.params = params


class RedirectSlash(Exception):
    """No route for this path, but one for it with (or without) a trailing slash."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class Router:
    """Routes for one app. Add them, `freeze()`, then `match()` and `url_for()`.

    Adding after `freeze()` is an error: routes are fixed once the app serves.
    """

    def __init__(self, converters: dict[str, type[Converter]] | None = None) -> None:
        self.converters = dict(CONVERTERS if converters is None else converters)
        self.routes: list[Route] = []
        self.frozen = False
        self._static: dict[str, dict[str, Route]] = {}
        self._dynamic: list[Route] = []
        self._names: dict[str, Route] = {}

    def add(
        self,
        path: str,
        endpoint: Any,
        methods: Iterable[str] = ("GET",),
        name: str | None = None,
    ) -> Route:
        if self.frozen:
            raise RuntimeError(
                f"cannot add route {path!r}: the app is already serving (routes are frozen)"
            )
        route = Route(path, endpoint, methods, name, self.converters)
        self.routes.append(route)
        return route

    def freeze(self) -> None:
        """Compile the tables; raise `ConfigError` for routes that would shadow each other
        (same path shape and a method in common) or reuse a name."""
        if self.frozen:
            return
        shapes: dict[str, list[Route]] = {}
        for route in self.routes:
            for other in shapes.get(route.shape, []):
                common = route.methods & other.methods
                if common:
                    raise ConfigError(
                        f"routes conflict: {other.path!r} ({other.name}) and {route.path!r} "
                        f"({route.name}) both match the same paths for {', '.join(sorted(common))}"
                    )
            shapes.setdefault(route.shape, []).append(route)
            previous = self._names.get(route.name)
            if previous is not None and previous.path != route.path:
                raise ConfigError(
                    f"route name {route.name!r} is used for {previous.path!r} and {route.path!r}"
                )
            self._names.setdefault(route.name, route)
            if route.pattern is None:
                table = self._static.setdefault(route.path, {})
                for method in route.methods:
                    table[method] = route
            else:
                self._dynamic.append(route)
        self._dynamic.sort(key=lambda r: r.rank)
        self.frozen = True

    def match(self, method: str, path: str) -> Match:
        """The route for `method` and `path`.

        Raises `HTTPError(404)`, `HTTPError(405)` with an ``Allow`` header naming the methods
        the path has (HEAD where GET is, OPTIONS always), or `RedirectSlash`.
        """
        if not self.frozen:
            self.freeze()
        allowed: set[str] = set()
        table = self._static.get(path)
        if table is not None:
            route = table.get(method) or (table.get("GET") if method == "HEAD" else None)
            if route is not None:
                return Match(route, {})
            allowed.update(table)
        for route in self._dynamic:
            params = route.match(path)
            if params is None:
                continue
            if method in route.methods or (method == "HEAD" and "GET" in route.methods):
                return Match(route, params)
            allowed.update(route.methods)
        if allowed:
            if allowed == {WEBSOCKET}:
                raise HTTPError(
                    426,
                    "This URL speaks WebSocket only: connect with a WebSocket client",
                    {"upgrade": "websocket", "connection": "Upgrade"},
                )
            raise HTTPError(405, "Method Not Allowed", {"allow": _allow(allowed)})
        other = path[:-1] if path.endswith("/") and path != "/" else path + "/"
        if self._exists(other):
            raise RedirectSlash(other)
        raise HTTPError(404, "Not Found")

    def allowed_methods(self, path: str) -> set[str]:
        """Every method some route accepts for `path` (for OPTIONS and Allow)."""
        methods = set(self._static.get(path, {}))
        for route in self._dynamic:
            if route.match(path) is not None:
                methods.update(route.methods)
        return methods

    def _exists(self, path: str) -> bool:
        return path in self._static or any(r.match(path) is not None for r in self._dynamic)

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of the route named `name` with `params`; parameters that are not in the
        template become the query string (``url_for("list", page=2)`` -> ``/items?page=2``)."""
        if not self.frozen:
            self.freeze()
        route = self._names.get(name)
        if route is None:
            raise KeyError(f"no route named {name!r}")
        missing = [p for p in route.params if p not in params]
        if missing:
            raise ValueError(f"url_for({name!r}) needs {', '.join(missing)}")
        path = route.build(params)
        extra = {k: v for k, v in params.items() if k not in route.converters}
        if extra:
            path += "?" + urlencode(extra, doseq=True)
        return path


def _allow(methods: set[str]) -> str:
    methods = methods - {WEBSOCKET}
    if "GET" in methods:
        methods = methods | {"HEAD"}
    return ", ".join(sorted(methods | {"OPTIONS"}))
