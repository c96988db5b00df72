"""The `hosting` suite's Flask app (WSGI): one route answering `Hello, World!` as text/plain."""

from flask import Flask, Response

app = Flask(__name__)


@app.get("/flask/plaintext")
def plaintext() -> Response:
    return Response("Hello, World!", mimetype="text/plain")
