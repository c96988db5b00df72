"""A Flask application as users write them: a blueprint, Flask-SQLAlchemy, sessions, uploads,
streaming, `send_file`, redirects and error handlers. Nothing in it knows about porch.

Configuration comes from the environment (the tests point it at a temporary directory):
``FLASKAPP_DATA`` is the directory for the SQLite database and the downloadable file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    request,
    send_file,
    session,
    stream_with_context,
    url_for,
)
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DOWNLOAD_SIZE = 256 * 1024
RELEASE_TIMEOUT = 10.0  # the longest a streamed response waits for the test to release it


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class User(db.Model):  # type: ignore[name-defined,misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    email: Mapped[str]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email}


class Teapot(Exception):
    """Raised by a view; the app's error handler turns it into a 418."""


def download_bytes() -> bytes:
    """The content of the file behind ``/download``: every byte value, repeated."""
    return bytes(range(256)) * (DOWNLOAD_SIZE // 256)


users = Blueprint("users", __name__, url_prefix="/users")


@users.get("/")
def list_users() -> Any:
    query = db.select(User).order_by(User.id)
    name = request.args.get("name")
    if name is not None:
        query = query.where(User.name == name)
    return jsonify([u.as_dict() for u in db.session.scalars(query)])


@users.post("/")
def create_user() -> Any:
    data = request.get_json() if request.is_json else request.form
    name, email = data.get("name"), data.get("email")
    if not name or not email:
        return jsonify(error="name and email are required"), 400
    user = User(name=name, email=email)
    db.session.add(user)
    db.session.commit()
    return jsonify(user.as_dict()), 201, {"Location": url_for("users.get_user", user_id=user.id)}


@users.get("/<int:user_id>")
def get_user(user_id: int) -> Any:
    return jsonify(db.get_or_404(User, user_id).as_dict())


# A streamed response stops after its first piece until the test releases it, so the test can
# see that the first piece arrived on its own (no sleeping on either side).
_releases: dict[str, threading.Event] = {}
_releases_lock = threading.Lock()


def _release_event(token: str) -> threading.Event:
    with _releases_lock:
        return _releases.setdefault(token, threading.Event())


main = Blueprint("main", __name__)


@main.get("/")
def index() -> Any:
    return "Hello from Flask"


@main.get("/search")
def search() -> Any:
    return jsonify(
        args=request.args.to_dict(flat=False),
        query_string=request.query_string.decode("latin-1"),
        path=request.path,
    )


@main.get("/wsgi")
def wsgi_environ() -> Any:
    env = request.environ
    return jsonify(
        version=list(env["wsgi.version"]),
        url_scheme=env["wsgi.url_scheme"],
        multithread=env["wsgi.multithread"],
        multiprocess=env["wsgi.multiprocess"],
        run_once=env["wsgi.run_once"],
        file_wrapper="wsgi.file_wrapper" in env,
        protocol=env["SERVER_PROTOCOL"],
        script_name=env["SCRIPT_NAME"],
        path_info=env["PATH_INFO"],
        remote_addr=env.get("REMOTE_ADDR"),
        remote_port=env.get("REMOTE_PORT"),
        host=env.get("HTTP_HOST"),
    )


@main.post("/upload")
def upload() -> Any:
    files = {}
    for field, storage in request.files.items(multi=True):
        content = storage.read()
        files[field] = {
            "filename": storage.filename,
            "content_type": storage.content_type,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
    return jsonify(files=files, form=request.form.to_dict())


@main.post("/raw")
def raw() -> Any:
    digest = hashlib.sha256()
    size = 0
    while chunk := request.stream.read(65536):
        digest.update(chunk)
        size += len(chunk)
    return jsonify(size=size, sha256=digest.hexdigest())


@main.get("/stream")
def stream() -> Any:
    """Streams pieces; writes ``stream-TOKEN`` in the data directory when the generator ends:
    "complete", or "closed" when the server closed it early (the client went away)."""
    token = request.args["token"]
    released = _release_event(token)
    record = Path(current_app.config["DATA_DIR"], f"stream-{token}")
    count = request.args.get("count", 5, type=int)

    def pieces() -> Iterator[str]:
        outcome = "closed"
        try:
            yield "first piece\n"
            if not released.wait(RELEASE_TIMEOUT):
                outcome = "never released"
                return
            for n in range(2, count + 1):
                yield f"piece {n}\n"
            outcome = "complete"
        finally:
            record.write_text(outcome)

    return Response(stream_with_context(pieces()), mimetype="text/plain")


@main.post("/stream/release")
def release() -> Any:
    _release_event(request.args["token"]).set()
    return "", 204


@main.get("/download")
def download() -> Any:
    return send_file(
        Path(current_app.config["DATA_DIR"], "download.bin"), mimetype="application/octet-stream"
    )


@main.get("/old-users")
def old_users() -> Any:
    return redirect(url_for("users.list_users"), code=301)


@main.post("/login")
def login() -> Any:
    session["user"] = request.form["user"]
    response = redirect(url_for("main.whoami"))
    response.set_cookie("theme", "dark", httponly=True, samesite="Lax")
    return response


@main.get("/whoami")
def whoami() -> Any:
    return jsonify(user=session.get("user"), theme=request.cookies.get("theme"))


@main.post("/logout")
def logout() -> Any:
    session.clear()
    return "", 204


@main.get("/teapot")
def teapot() -> Any:
    raise Teapot("short and stout")


@main.get("/boom")
def boom() -> Any:
    raise RuntimeError("a bug in a Flask view")


@main.get("/forbidden")
def forbidden() -> Any:
    abort(403)


def create_app(data_dir: str | None = None) -> Flask:
    data = Path(data_dir or os.environ.get("FLASKAPP_DATA") or tempfile.mkdtemp(prefix="flask"))
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "not-a-secret-only-tests"
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{data / 'users.sqlite3'}"
    (data / "download.bin").write_bytes(download_bytes())
    db.init_app(app)
    with app.app_context():
        db.create_all()
    app.config["DATA_DIR"] = str(data)
    app.register_blueprint(users)
    app.register_blueprint(main)

    @app.errorhandler(Teapot)
    def handle_teapot(exc: Teapot) -> Any:
        return jsonify(error=str(exc)), 418

    @app.errorhandler(404)
    def not_found(exc: Exception) -> Any:
        return jsonify(error="not found", path=request.path), 404

    return app


def crash_middleware(wsgi_app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware: ``/crash`` raises out of the WSGI callable itself (past Flask's own
    error handling), as a broken middleware would; every other path goes to the app."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ["PATH_INFO"] == "/crash":
            raise RuntimeError("a bug in WSGI middleware")
        return wsgi_app(environ, start_response)

    return middleware


app = create_app()
app.wsgi_app = crash_middleware(app.wsgi_app)  # type: ignore[method-assign]
