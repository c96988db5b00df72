"""App interfaces: how porch apps and foreign (ASGI, WSGI) apps are called.

`asgi_call` serves a native porch app (one `Request` in, one `Response` out) to an ASGI 3
server such as uvicorn, granian or hypercorn; `porch.App.__call__` dispatches to it when it is
called with ``(scope, receive, send)``.
"""

from porch.interfaces.asgi_app import ASGIApp, asgi_call

__all__ = ["ASGIApp", "asgi_call"]
