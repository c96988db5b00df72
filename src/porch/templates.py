"""Jinja2 templates: ``templates.render(request, "page.html", items=items)`` -> HTMLResponse.

Autoescape is on for .html, .htm, .xml, .xhtml and .svg templates and for strings rendered
with `render_string` (a value from a user is text, never markup, unless marked ``|safe``).
Every template sees ``request``, ``url_for(name, **params)`` (the app's) and ``csrf_token()``
(``porch.security.csrf``, imported when first called).

Folders: the app's `directory`, and each blueprint's ``template_folder``. For a request
routed to a blueprint, its folder (then its parents') is searched before the app's, so a
blueprint's ``index.html`` is its own; ``"admin/index.html"`` names the admin blueprint's
template explicitly from anywhere (a prefix per blueprint, as in Flask). A template that
cannot be found is a `TemplateNotFound` naming the folders searched: logged, and a 500.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from porch.request import Request
from porch.response import HTMLResponse

if TYPE_CHECKING:
    from porch.web.app import App

__all__ = ["TemplateNotFound", "Templates"]

AUTOESCAPE = ("html", "htm", "xml", "xhtml", "svg")
Folder = str | os.PathLike[str]


class TemplateNotFound(jinja2.TemplateNotFound):
    """No folder has the template: the message lists the names and folders tried."""


class Templates:
    """Jinja2 templates for a porch app.

    `directory`: one folder or several (relative ones are taken from the folder of the module
    that creates the Templates). `app` (or `init_app`) gives ``url_for`` and the blueprints'
    folders. `context_processors`: ``fn(request) -> dict`` merged into every context.
    `enable_async`: render with `render_async` (templates may then await coroutines).
    `options` go to ``jinja2.Environment`` (``trim_blocks``, ``auto_reload``, ``cache_size``...).
    """

    def __init__(
        self,
        directory: Folder | Sequence[Folder] = "templates",
        *,
        app: App | None = None,
        context_processors: Iterable[Callable[[Request], Mapping[str, Any]]] = (),
        enable_async: bool = False,
        **options: Any,
    ) -> None:
        base = _caller_folder()
        folders = [directory] if isinstance(directory, str | os.PathLike) else list(directory)
        self.folders = [base / Path(f) for f in folders]  # an absolute one stays as it is
        self.app: App | None = None
        self.context_processors = list(context_processors)
        self._loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(self.folders)])
        options.setdefault(
            "autoescape", jinja2.select_autoescape(AUTOESCAPE, default_for_string=True)
        )
        self.env = jinja2.Environment(loader=self._loader, enable_async=enable_async, **options)
        self.env.globals["url_for"] = self._url_for
        self.env.globals["csrf_token"] = _csrf_token
        self._routes: dict[int, list[str]] = {}  # route id -> its blueprints, innermost first
        self._collected = False
        if app is not None:
            self.init_app(app)

    def init_app(self, app: App) -> None:
        """Use `app`'s ``url_for`` and its blueprints' folders (read when the app starts, as
        blueprints may still be included after this call)."""
        self.app = app
        app.on_startup(self._collect_blueprints)

    async def _collect_blueprints(self) -> None:
        self._collect()

    def _collect(self) -> None:
        app = self.app
        if app is None:
            return
        folders: dict[str, Path] = {}
        for name, blueprint in app.blueprints.items():
            folder = getattr(blueprint, "template_folder", None)
            if folder is not None:
                folders[name] = folder
        prefixed = jinja2.PrefixLoader(
            {name.replace(".", "/"): jinja2.FileSystemLoader(f) for name, f in folders.items()}
        )
        # The app's folders first, then each blueprint's by prefix, then unprefixed (so that
        # a blueprint template may extend a layout of its own folder by its plain name).
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(self.folders), prefixed]
        loaders.extend(jinja2.FileSystemLoader(f) for f in folders.values())
        self._loader.loaders = loaders
        self._routes = {}
        for route in app.router.routes:
            parts = route.name.split(".")[:-1]
            chain = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
            owned = [name.replace(".", "/") for name in chain if name in folders]
            if owned:
                self._routes[id(route)] = owned
        self._collected = True

    # rendering ---------------------------------------------------------------------------

    def get_template(self, name: str, request: Request | None = None) -> jinja2.Template:
        """The template `name`, looked up first in the folders of `request`'s blueprint."""
        if not self._collected and self.app is not None and self.app.frozen:
            self._collect()  # served without the start-up hooks (a TestClient without with)
        candidates = [*(f"{bp}/{name}" for bp in self._blueprints_of(request)), name]
        try:
            return self.env.select_template(candidates)
        except jinja2.TemplatesNotFound:
            searched = [str(f) for f in self.folders]
            raise TemplateNotFound(
                name, f"template {name!r} not found (tried {candidates} in {searched} and the "
                "blueprints' template folders)"
            ) from None  # fmt: skip

    def context(self, request: Request | None, values: Mapping[str, Any]) -> dict[str, Any]:
        context: dict[str, Any] = {"request": request}
        if request is not None:
            for processor in self.context_processors:
                context.update(processor(request))
        context.update(values)
        return context

    def render(
        self,
        request: Request,
        name: str,
        /,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **values: Any,
    ) -> HTMLResponse:
        """The template rendered with `values` (and ``request``), as an HTML response."""
        if self.env.is_async:
            raise RuntimeError("these Templates have enable_async=True: use render_async")
        template = self.get_template(name, request)
        return HTMLResponse(template.render(self.context(request, values)), status, headers)

    async def render_async(
        self,
        request: Request,
        name: str,
        /,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **values: Any,
    ) -> HTMLResponse:
        """`render` for ``enable_async=True``: the template may await (async for, coroutines)."""
        template = self.get_template(name, request)
        text = await template.render_async(self.context(request, values))
        return HTMLResponse(text, status, headers)

    def render_string(self, source: str, request: Request | None = None, **values: Any) -> str:
        """`source` rendered as a template (autoescaped) to a str."""
        return self.env.from_string(source).render(self.context(request, values))

    def _blueprints_of(self, request: Request | None) -> list[str]:
        if request is None or not self._routes or self.app is None:
            return []
        try:
            match = self.app.router.match(request.method, request.path)
        except Exception:  # a 404/405/redirect: no blueprint
            return []
        return self._routes.get(id(match.route), [])

    @jinja2.pass_context
    def _url_for(self, context: jinja2.runtime.Context, name: str, /, **params: Any) -> str:
        if self.app is None:
            raise RuntimeError("url_for() in a template needs Templates(app=app) or init_app")
        return self.app.url_for(name, **params)

    def __repr__(self) -> str:
        return f"Templates({[str(f) for f in self.folders]})"


@jinja2.pass_context
def _csrf_token(context: jinja2.runtime.Context) -> str:
    """``{{ csrf_token() }}``: the request's CSRF token, from porch.security."""
    request = context.get("request")
    if request is None:
        raise RuntimeError("csrf_token() needs the request: render with templates.render")
    from porch.security.csrf import csrf_token  # imported when a template asks for one

    token: str = csrf_token(request)
    return token


def _caller_folder() -> Path:
    frame = sys._getframe(2)
    file = frame.f_globals.get("__file__")
    return Path(file).resolve().parent if file else Path.cwd()
