# -*- test-case-name: tests.worker.test_apps -*-
"""The error a worker reports when its app cannot be served.

Kept apart from L{recycler.worker.apps} so that L{recycler.worker.tls}, which
the master imports to check C{--tls-cert}, needs neither twisted.web nor the app
loader.
"""

from __future__ import annotations


class AppError(Exception):
    """
    The app cannot be loaded or served (nor its TLS set up); the message says why.

    @ivar traceback: The formatted traceback of the app's own error (where its
        import failed, with file and line), if there was one.
    """

    def __init__(self, message: str, traceback: str | None = None) -> None:
        super().__init__(message)
        self.traceback = traceback
