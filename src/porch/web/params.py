"""Where handler parameters come from, and how each is converted and checked.

A handler declares what it needs in its signature; `analyze()` reads it once (at freeze) into
a list of `Field` values that the invoker fills per request and that OpenAPI describes:

- annotated `porch.Request` (any name): the request itself;
- named like a path parameter: the router's converted value, checked against the annotation
  (``Annotated[int, msgspec.Meta(ge=1)]``);
- a msgspec ``Struct``, a dataclass, a ``TypedDict``, ``dict``, a ``list`` of those, a pydantic
  model, or anything marked ``Annotated[X, Body()]``: the JSON request body;
- marked ``Header()`` or ``Cookie()``: that header (``user_agent`` reads ``user-agent``) or
  cookie; ``Query(alias="q")`` renames a query parameter;
- a type registered with `provided()` (``porch.db.Session``, ...): a value made per request
  by the app's `Provider` for it (``app.providers``), opened before the handler runs and
  closed after it, with the handler's outcome (see `Provider`);
- anything else: a query parameter (plain types, ``Optional``, ``list[...]``, ``Literal``,
  enums, msgspec ``Meta`` constraints).

Values are converted with ``msgspec.convert(..., strict=False)``; a failure is recorded as
``{"loc": [where, name, ...], "msg": ...}`` so that every failing field is reported at once.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
import sys
import typing
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Annotated, Any, ClassVar

import msgspec

from porch.errors import HTTPError
from porch.request import Request

__all__ = [
    "Body",
    "Cookie",
    "Field",
    "Header",
    "Invalid",
    "Param",
    "Path",
    "Provider",
    "Query",
    "analyze",
    "provided",
    "read_body",
]

MISSING: Any = inspect.Parameter.empty
_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off", ""))
_AT = re.compile(r" - at `\$(.*)`$")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[(\.\.\.)\]")
_REQUIRED = re.compile(r"^Object missing required field `(.+)`$")


class Param:
    """Marks where a parameter is read: ``Annotated[str, Query(alias="q")]``."""

    where: ClassVar[str] = "query"
    __slots__ = ("alias",)

    def __init__(self, alias: str | None = None) -> None:
        self.alias = alias

    def key(self, name: str) -> str:
        return self.alias or name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alias={self.alias!r})"


class Query(Param):
    """A query-string parameter (the default for plain annotations)."""


class Path(Param):
    """A path parameter (the default for a name that appears in the route's template)."""

    where = "path"


class Header(Param):
    """A request header; ``user_agent`` reads ``User-Agent`` unless `alias` says otherwise."""

    where = "header"

    def key(self, name: str) -> str:
        return (self.alias or name.replace("_", "-")).lower()


class Cookie(Param):
    """A cookie of the request."""

    where = "cookie"


class Body(Param):
    """The JSON request body, decoded into the annotated type."""

    where = "body"


class Invalid(Exception):
    """One or more fields failed; `errors` are ``{"loc": [...], "msg": ...}`` entries."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


class Provider:
    """Makes the value of a provided parameter for one request.

    `open` is for ``async def`` handlers: an async context manager entered before the handler
    is called and left after it returns or raises (it sees the exception, so a database
    session commits on success and rolls back on error). `open_sync` is for plain ``def``
    handlers: a context manager entered and left in the handler's worker thread. A provider
    without the one a handler needs is refused when the app freezes, with `hint` in the error.
    """

    __slots__ = ("hint", "open", "open_sync")

    def __init__(
        self,
        open: Callable[[Request], AbstractAsyncContextManager[Any]] | None = None,
        open_sync: Callable[[Request], AbstractContextManager[Any]] | None = None,
        hint: str = "",
    ) -> None:
        self.open = open
        self.open_sync = open_sync
        self.hint = hint


_PROVIDED: dict[Any, str] = {}  # annotation -> how to attach a provider (for error messages)


def provided(kind: Any, how: str) -> None:
    """Declare `kind` a provided annotation: a handler parameter annotated with it is never read
    from the request; the app's ``providers[kind]`` makes it. `how` tells a user whose app has
    no provider for it what to do (``"call db.init_app(app)"``)."""
    _PROVIDED[kind] = how


@dataclasses.dataclass(slots=True)
class Field:
    """One handler parameter: its name, where it comes from and its type."""

    name: str
    where: str  # request | path | query | header | cookie | body | provided
    key: str  # its name on the wire
    annotation: Any  # porch markers removed, msgspec Meta kept; Any when not annotated
    default: Any = MISSING
    many: bool = False  # a repeated query parameter or header
    convert: Callable[[Any], Any] | None = None  # None: the value is used as it is

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def read(self, request: Request, params: dict[str, Any]) -> Any:
        """The converted value for this request; raises `Invalid` naming the field."""
        where = self.where
        value: Any
        if where == "path":
            value = params[self.name]
        elif where == "query":
            query = request.query
            value = query.getlist(self.key) if self.many else query.get(self.key)
        elif where == "header":
            headers = request.headers
            value = headers.getlist(self.key) if self.many else headers.get(self.key)
        else:
            value = request.cookies.get(self.key)
        if value is None or (self.many and not value):
            if self.default is not MISSING:
                return _fresh(self.default)
            if self.many:
                return []
            raise Invalid([{"loc": [where, self.key], "msg": "field required"}])
        convert = self.convert
        if convert is None:
            return value
        try:
            return convert(value)
        except msgspec.ValidationError as exc:
            raise Invalid([error_entry([where, self.key], str(exc), value)]) from None


async def read_body(field: Field, request: Request) -> Any:
    """The request body decoded into `field`'s type; raises `Invalid`, or `HTTPError(415)`
    when the body is not JSON (a body without a Content-Type is taken as JSON)."""
    # The type is checked before the body is read: a large non-JSON body is refused unread.
    media_type = request.content_type
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise HTTPError(
            415, f"Unsupported Media Type: expected application/json, got {media_type[:100]}"
        )
    data = await request.body()
    if not data:
        if field.default is not MISSING:
            return _fresh(field.default)
        raise Invalid([{"loc": ["body"], "msg": "field required"}])
    decode = field.convert
    return decode(data) if decode is not None else data


def _body_decoder(annotation: Any) -> Callable[[Any], Any]:
    kind = unwrap(annotation)
    if is_pydantic(kind):
        pydantic_error = sys.modules["pydantic"].ValidationError

        def validate(data: Any) -> Any:
            try:
                return kind.model_validate_json(data)
            except pydantic_error as exc:
                errors = exc.errors(include_url=False, include_input=False)
                raise Invalid(
                    [{"loc": ["body", *e["loc"]], "msg": e["msg"]} for e in errors]
                ) from None

        return validate
    decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(annotation)

    def decode(data: Any) -> Any:
        try:
            return decoder.decode(data)
        except msgspec.ValidationError as exc:
            raise Invalid([error_entry(["body"], str(exc))]) from None
        except msgspec.DecodeError as exc:
            raise Invalid([{"loc": ["body"], "msg": f"invalid JSON: {exc}"}]) from None

    return decode


def error_entry(loc: list[Any], message: str, value: Any = MISSING) -> dict[str, Any]:
    """A msgspec message (``Expected `int` >= 1 - at `$.items[0].qty```) as a loc and msg."""
    loc = list(loc)
    found = _AT.search(message)
    if found is not None:
        message = message[: found.start()]
        for step in _STEP.finditer(found.group(1)):
            name, index, key = step.groups()
            loc.append(name if name is not None else int(index) if index is not None else key)
    required = _REQUIRED.match(message)
    if required is not None:
        loc.append(required.group(1))
        message = "field required"
    elif isinstance(value, str) and message.endswith(", got `str`"):
        shown = value if len(value) <= 40 else value[:40] + "..."
        message = f"{message[: -len('`str`')]}{shown!r}"
    return {"loc": loc, "msg": message}


def analyze(func: Callable[..., Any], path_params: list[str]) -> list[Field]:
    """The fields of `func`'s signature, or `TypeError` for one that cannot be filled."""
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:  # unresolvable annotations: fall back to names and defaults
        hints = {}
    fields: list[Field] = []
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{func.__qualname__}: *args and **kwargs cannot be filled")
        if param.kind is param.POSITIONAL_ONLY:
            raise TypeError(
                f"{func.__qualname__}: parameter {name!r} is positional-only; porch passes "
                "parameters by name"
            )
        annotation = hints.get(name, param.annotation)
        fields.append(_field(name, annotation, param.default, name in path_params))
    missing = [p for p in path_params if p not in signature.parameters]
    if missing:
        raise TypeError(
            f"{func.__qualname__} does not take the path parameter(s) {', '.join(missing)}"
        )
    bodies = [f.name for f in fields if f.where == "body"]
    if len(bodies) > 1:
        raise TypeError(f"{func.__qualname__}: only one body parameter, not {bodies}")
    return fields


def _field(name: str, annotation: Any, default: Any, in_path: bool) -> Field:
    if annotation is MISSING:
        annotation = Any
    if isinstance(annotation, type) and issubclass(annotation, Request):
        return Field(name, "request", name, annotation)
    if _PROVIDED and _is_provided(annotation):
        return Field(name, "provided", name, annotation)
    plain, marker = split_marker(annotation)
    if in_path:
        where = "path"
    elif marker is not None:
        where = marker.where
        if where == "path":
            raise TypeError(f"parameter {name!r} is marked Path() but is not in the route's path")
    else:
        where = "body" if is_body_type(plain) else "query"
    key = marker.key(name) if marker is not None else name
    if where == "body":
        return Field(name, "body", key, plain, default, convert=_body_decoder(plain))
    many = where in ("query", "header") and typing.get_origin(unwrap(plain)) is list
    if plain is not Any:
        try:
            msgspec.json.Decoder(plain)  # refuse now a type that could never be converted
        except TypeError as exc:
            reason = str(exc)
            if isinstance(plain, str):  # get_type_hints() failed: a name it could not resolve
                reason = f"annotation {plain!r} cannot be resolved; define it at module level"
            raise TypeError(f"parameter {name!r}: {reason}") from None
    return Field(name, where, key, plain, default, many, _converter(plain, where))


def _is_provided(annotation: Any) -> bool:
    try:
        return annotation in _PROVIDED
    except TypeError:  # an unhashable annotation is never a provided type
        return False


def provider_for(
    field: Field, providers: dict[Any, Provider], func: Callable[..., Any]
) -> Provider:
    """The app's provider for a provided `field`, or a `TypeError` saying how to attach one."""
    provider = providers.get(field.annotation)
    if provider is None:
        kind = getattr(field.annotation, "__qualname__", repr(field.annotation))
        raise TypeError(
            f"{func.__qualname__}: parameter {field.name!r} wants a {kind}, which this app does "
            f"not provide: {_PROVIDED[field.annotation]}"
        )
    return provider


def split_marker(annotation: Any) -> tuple[Any, Param | None]:
    """``Annotated[X, Header(), Meta(...)]`` -> (``Annotated[X, Meta(...)]``, the marker)."""
    if typing.get_origin(annotation) is not Annotated:
        return annotation, None
    base, *extras = typing.get_args(annotation)
    markers = [e for e in extras if isinstance(e, Param)]
    if not markers:
        return annotation, None
    rest = tuple(e for e in extras if not isinstance(e, Param))
    plain = Annotated[(base, *rest)] if rest else base
    return plain, markers[-1]


def unwrap(annotation: Any) -> Any:
    """The type under ``Annotated`` and ``Optional``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union or isinstance(annotation, type(int | None)):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def is_body_type(annotation: Any) -> bool:
    """A type that is read from the JSON body rather than from the query string."""
    kind = unwrap(annotation)
    origin = typing.get_origin(kind)
    if kind is dict or origin is dict:
        return True
    if kind is list or origin is list:
        args = typing.get_args(kind)
        return bool(args) and is_body_type(args[0])
    return is_model(kind) or is_pydantic(kind)


def is_model(kind: Any) -> bool:
    """A msgspec Struct, a dataclass or a TypedDict class."""
    return isinstance(kind, type) and (
        issubclass(kind, msgspec.Struct)
        or dataclasses.is_dataclass(kind)
        or typing.is_typeddict(kind)
    )


def is_pydantic(kind: Any) -> bool:
    """A pydantic model class (pydantic is optional: only looked at when already imported)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(kind, type) and issubclass(kind, pydantic.BaseModel)


def _converter(annotation: Any, where: str) -> Callable[[Any], Any] | None:
    if annotation is Any or annotation is str:
        return None
    if where == "path" and typing.get_origin(annotation) is not Annotated:
        kind = unwrap(annotation)
        if isinstance(kind, type) and kind in (int, float, str):
            # The router's converter made the value; convert only what it left as text.
            def path_value(value: Any) -> Any:
                if type(value) is kind:
                    return value
                return msgspec.convert(value, annotation, strict=False)

            return path_value
    kind = unwrap(annotation)
    if kind is int and typing.get_origin(annotation) is not Annotated:

        def integer(value: Any) -> Any:
            if len(value) < 19 and value.isascii() and value.isdigit():  # the common case
                return int(value)
            return msgspec.convert(value, annotation, strict=False)

        return integer
    if kind is bool or (typing.get_origin(kind) is list and unwrap(_item(kind)) is bool):

        def boolean(value: Any) -> Any:
            return msgspec.convert(_booleans(value), annotation, strict=False)

        return boolean

    def convert(value: Any) -> Any:
        return msgspec.convert(value, annotation, strict=False)

    return convert


def _item(kind: Any) -> Any:
    args = typing.get_args(kind)
    return args[0] if args else str


def _booleans(value: Any) -> Any:
    """yes/no, on/off, 1/0 and true/false in any case, as the query string writes them."""
    if isinstance(value, list):
        return [_booleans(v) for v in value]
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return value


def _fresh(default: Any) -> Any:
    """A default to hand to one request: a mutable one is copied, so that a handler that
    changes it does not change it for the next request."""
    if isinstance(default, list | dict | set | bytearray):
        return copy.copy(default)
    return default
