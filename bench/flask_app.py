"""A one-route Flask app for the C{wsgi} scenario of C{bench/run.py}: a real framework's cost.

    gunicorn --pythonpath bench -k sync -w 4 flask_app:app
    python -m twisted recycler --app flask_app:app     # with bench/ on PYTHONPATH

Answers C{GET /} with C{hello\\n}, as C{hello_wsgi.py} and C{recycler.demo:hello} do.
"""

from __future__ import annotations

from flask import Flask, Response

app = Flask(__name__)


@app.route("/")
def hello() -> Response:
    """Answer C{hello\\n} as plain text."""
    return Response(b"hello\n", mimetype="text/plain")
