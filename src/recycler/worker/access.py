# -*- test-case-name: tests.worker.test_access -*-
"""The worker's access log (C{--access-log}): one line per request, appended in one write.

Every worker of a pool appends to the same file. It is opened with
C{O_APPEND} and each line is one C{write(2)}, so lines of different workers
never interleave, and none overwrites another. C{-} is the worker's stdout,
which the master relays into its own log. The master's C{reopen} command (it
got SIGUSR1 after logrotate renamed the file) opens the path afresh.
"""

from __future__ import annotations

import os

from twisted.logger import Logger

from recycler.worker.errors import AppError

STDOUT = "-"
"""The C{--access-log} value for the worker's stdout."""

FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
"""How the file is opened: appended to, created if missing, not inherited by subprocesses."""


class AccessLogFile:
    """
    Where a L{recycler.worker.drain.http.DrainableSite} writes its lines.

    @ivar path: The file, or C{-} for stdout.
    """

    log = Logger()

    def __init__(self, path: str) -> None:
        """@raise OSError: if C{path} cannot be opened for appending."""
        self.path = path
        self._fd = 1 if path == STDOUT else os.open(path, FLAGS, 0o644)
        self._failing = False

    def write(self, line: str) -> None:
        """
        Append C{line} (newline included) in one write. An error (a full disk)
        is logged once until a write succeeds again, never raised: the request
        was served all the same.
        """
        try:
            os.write(self._fd, line.encode("utf-8", "backslashreplace"))
        except OSError as e:
            if not self._failing:
                self.log.error(
                    "cannot write to the access log {path}: {error}",
                    path=self.path,
                    error=e.strerror,
                )
            self._failing = True
        else:
            self._failing = False

    def reopen(self) -> None:
        """Open the path afresh (logrotate renamed the file); if it cannot be, keep the old one."""
        if self.path == STDOUT:
            return
        try:
            fd = os.open(self.path, FLAGS, 0o644)
        except OSError as e:
            self.log.error(
                "cannot reopen the access log {path}: {error}", path=self.path, error=e.strerror
            )
            return
        old, self._fd = self._fd, fd
        os.close(old)
        self.log.info("reopened the access log {path}", path=self.path)


def openAccessLog(path: str | None) -> AccessLogFile | None:
    """
    The access log at C{path} (C{-}: stdout), or L{None} without one.

    @raise AppError: if the file cannot be opened for appending.
    """
    if path is None:
        return None
    try:
        return AccessLogFile(path)
    except OSError as e:
        raise AppError(f"cannot open the access log {path}: {e.strerror}") from None
