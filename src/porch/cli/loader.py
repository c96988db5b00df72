"""Find the app named by ``module:attribute`` or made by ``module:factory(args)``."""

from __future__ import annotations

import ast
import importlib
import sys
from typing import Any

from porch.errors import ConfigError

__all__ = ["load_app", "load_object"]


def load_app(spec: str, app_dir: str = ".") -> Any:
    """Import ``module:attr`` (``attr`` may be dotted), or call ``module:factory()``.

    A factory call may pass literal arguments, as gunicorn allows:
    ``myapp:create_app('production', debug=False)``. Wrong names and bad calls raise
    `ConfigError` with one line that says which part is wrong; an exception inside the
    module or the factory propagates with its traceback.
    """
    obj = load_object(spec, app_dir)
    if not callable(obj):
        raise ConfigError(f"'{spec}' is a {type(obj).__name__}, not an app (a callable)")
    return obj


def load_object(spec: str, app_dir: str = ".") -> Any:
    """What `load_app` finds, without checking that it is an app (``porch db`` looks for a
    Database, or the app it is attached to)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"'{spec}' is not of the form module:attribute (e.g. myapp:app)")
    attr, call = _split_call(spec, attr)
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            raise ConfigError(f"could not import module '{module_name}': {exc}") from None
        raise
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"module '{module_name}' has no attribute '{attr}'") from None
    if call is not None:
        if not callable(obj):
            raise ConfigError(f"'{module_name}:{attr}' is a {type(obj).__name__}, not a factory")
        args, kwargs = call
        try:
            obj = obj(*args, **kwargs)
        except TypeError as exc:
            if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
                # Raised by the call itself (wrong arguments), not inside the factory.
                raise ConfigError(f"could not call '{spec}': {exc}") from None
            raise
    return obj


def _split_call(spec: str, attr: str) -> tuple[str, tuple[list[Any], dict[str, Any]] | None]:
    """``create_app(1, x='y')`` -> ("create_app", ([1], {"x": "y"})); plain names -> None."""
    if "(" not in attr:
        return attr, None
    try:
        node = ast.parse(attr, mode="eval").body
    except SyntaxError:
        raise ConfigError(f"'{spec}': the factory call is not valid Python") from None
    if not isinstance(node, ast.Call) or not _dotted(node.func):
        raise ConfigError(f"'{spec}': expected module:factory(...) with a plain name")
    try:
        args = [ast.literal_eval(arg) for arg in node.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
    except ValueError:
        raise ConfigError(
            f"'{spec}': a factory's arguments must be literals (strings, numbers, ...)"
        ) from None
    if any(kw.arg is None for kw in node.keywords):
        raise ConfigError(f"'{spec}': ** arguments are not supported")
    return ast.unparse(node.func), (args, kwargs)


def _dotted(node: ast.expr) -> bool:
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)
