"""Rendering pages: the templates with the current user and the flashed messages."""

from __future__ import annotations

from typing import Any

from porch import Request, Response
from porch.security import get_flashed_messages
from porch.templates import Templates


def _site(request: Request) -> dict[str, Any]:
    # Only when the visitor has a session: a first visit sets no cookie.
    return {"username": request.session.get("username")}


templates = Templates("templates", context_processors=[_site])


def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("messages", get_flashed_messages(request, with_categories=True))
    return templates.render(request, name, status, **context)
