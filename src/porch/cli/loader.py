"""Find the app named by ``module:attribute`` and tell what kind of app it is."""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

from porch.errors import ConfigError

__all__ = ["app_kind", "load_app"]


def load_app(spec: str, app_dir: str = ".") -> Any:
    """Import ``module:attr`` (``attr`` may be dotted). Wrong names raise `ConfigError` with
    one line that says which part is wrong; an exception inside the module propagates."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"'{spec}' is not of the form module:attribute (e.g. myapp:app)")
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
    if not callable(obj):
        raise ConfigError(f"'{spec}' is a {type(obj).__name__}, not an app (a callable)")
    return obj


def app_kind(app: Any) -> str:
    """``native`` (``async def app(request)``), ``asgi``, ``wsgi`` or ``unknown``."""
    if getattr(app, "__porch_native__", False):
        return "native"
    target = app if inspect.isroutine(app) or inspect.isclass(app) else app.__call__
    try:
        params = [
            p
            for p in inspect.signature(target).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return "unknown"
    is_async = inspect.iscoroutinefunction(target)
    if is_async and len(params) == 1:
        return "native"
    if is_async and len(params) == 3:
        return "asgi"
    if not is_async and len(params) == 2:
        return "wsgi"
    return "unknown"
