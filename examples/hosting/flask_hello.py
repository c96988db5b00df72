"""A plain Flask app: ``porch serve examples.hosting.flask_hello:app`` (WSGI, detected).

Nothing here knows about porch; the same file runs under ``flask run`` or gunicorn.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, request, stream_with_context

api = Blueprint("api", __name__, url_prefix="/api")


@api.get("/greet")
def greet() -> Response:
    return jsonify(greeting=f"Hello, {request.args.get('name', 'world')}!")


app = Flask(__name__)
app.register_blueprint(api)


@app.get("/")
def home() -> str:
    return "Flask on porch. Try /api/greet?name=you and /count."


@app.get("/count")
def count() -> Response:
    def numbers():  # type: ignore[no-untyped-def]
        for n in range(1, 6):
            yield f"{n}\n"

    return Response(stream_with_context(numbers()), mimetype="text/plain")
