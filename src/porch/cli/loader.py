"""Find the app named by ``module:attribute``."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from porch.errors import ConfigError

__all__ = ["load_app", "load_object"]


def load_app(spec: str, app_dir: str = ".") -> Any:
    """Import ``module:attr`` (``attr`` may be dotted). Wrong names raise `ConfigError` with
    one line that says which part is wrong; an exception inside the module propagates."""
    obj = load_object(spec, app_dir)
    if not callable(obj):
        raise ConfigError(f"'{spec}' is a {type(obj).__name__}, not an app (a callable)")
    return obj


def load_object(spec: str, app_dir: str = ".") -> Any:
    """The object named by ``module:attr``, whatever it is (`load_app` without the check
    that it is an app: ``porch db`` looks for a Database)."""
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
    return obj
