"""A Flask app served by recycler's workers through WSGI.

    pip install flask
    twistd -n recycler --app examples.flask_app:app --threads 10

(run from the repository root, so that ``examples`` is importable).
"""

import os
import time

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello() -> str:
    return "Hello from Flask\n"


@app.route("/slow")
def slow() -> str:
    """Blocks its thread for 0.2 s: WSGI apps run on each worker's thread pool."""
    time.sleep(0.2)
    return f"slow answer from pid {os.getpid()}\n"
