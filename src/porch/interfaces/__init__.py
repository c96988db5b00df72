"""App interfaces: how porch apps and foreign (ASGI, WSGI) apps are called.

Hosting: `adapt` turns any app into the native porch app the server runs, with `ASGIHost`
for ASGI 3 and 2 apps (FastAPI, Starlette, Django's ASGIHandler) and `WSGIHost` for WSGI
apps (Flask, Django); `StaticMounts` serves folders beside it.

Being hosted: `asgi_call` serves a native porch app to an ASGI 3 server such as uvicorn,
granian or hypercorn; `porch.App.__call__` dispatches to it when it is called with
``(scope, receive, send)``.
"""

from porch.interfaces.asgi import ASGIHost
from porch.interfaces.asgi_app import ASGIApp, asgi_call
from porch.interfaces.detect import INTERFACES, adapt, detect
from porch.interfaces.mounts import StaticMounts, parse_mount
from porch.interfaces.wsgi import FileWrapper, WSGIHost

__all__ = [
    "ASGIApp",
    "ASGIHost",
    "FileWrapper",
    "INTERFACES",
    "StaticMounts",
    "WSGIHost",
    "adapt",
    "asgi_call",
    "detect",
    "parse_mount",
]
