# -*- test-case-name: tests.worker.test_apps -*-
"""The error a worker reports when its app cannot be served.

Kept apart from L{recycler.worker.apps} so that L{recycler.worker.tls}, which
the master imports to check C{--tls-cert}, needs neither twisted.web nor the app
loader.
"""

from __future__ import annotations


class AppError(Exception):
    """The app cannot be loaded or served (nor its TLS set up); the message says why."""
