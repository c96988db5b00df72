"""The framework: `App` with routing, handlers, hooks, middleware and error handlers."""

from porch.web.app import App
from porch.web.blueprints import Blueprint
from porch.web.params import Body, Cookie, Header, Path, Query
from porch.web.routing import Converter, Router

__all__ = ["App", "Blueprint", "Body", "Converter", "Cookie", "Header", "Path", "Query", "Router"]
