# -*- test-case-name: tests.master.test_reaping -*-
"""The master as a child subreaper, and the orphans that makes it inherit.

Workers forked by the fork server are re-parented to the master only if the
master is a child subreaper (L{becomeSubreaper}); then the reactor reaps them
like spawned processes (L{recycler.master.forked.ForkedProcess}). A subreaper
also inherits every other orphaned descendant, say a subprocess a worker left
behind when it died; nobody waits for those, so L{OrphanReaper} reaps them.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterable

import psutil
from twisted.internet.interfaces import IReactorTime
from twisted.internet.process import reapProcessHandlers
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

PR_SET_CHILD_SUBREAPER = 36
"""From C{<linux/prctl.h>}, Linux 3.4 and later."""

ORPHAN_INTERVAL = 5.0
"""Seconds between two looks for orphaned zombies."""


def becomeSubreaper() -> bool:
    """
    Make this process a child subreaper: orphaned descendants are re-parented
    to it rather than to init. Return whether that worked (L{False} where it is
    not supported, e.g. not Linux).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    prctl.restype = ctypes.c_int
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def describeStatus(status: int) -> str:
    """C{"exit code N"} or C{"signal N"} for a wait status."""
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _ownChildren() -> list[psutil.Process]:
    return psutil.Process(os.getpid()).children()


class OrphanReaper:
    """
    Reaps the zombie children of this process that no Twisted reap handler
    (C{twisted.internet.process.reapProcessHandlers}) waits for.

    A zombie is reaped only once it has been seen unclaimed at two looks in a
    row: a child that has just been handed over (a fork server's worker is our
    child a moment before its L{ForkedProcess} registers it) is never taken,
    nor is the status of a child that someone else is about to wait for.

    @ivar reaped: How many orphans were reaped so far.
    """

    log = Logger()

    def __init__(
        self,
        clock: IReactorTime,
        interval: float = ORPHAN_INTERVAL,
        children: Callable[[], Iterable[psutil.Process]] = _ownChildren,
    ) -> None:
        """
        @param clock: Runs the periodic look.
        @param interval: Seconds between two looks.
        @param children: Lists this process's children (psutil by default).
        """
        self.interval = interval
        self.reaped = 0
        self._children = children
        self._suspects: set[int] = set()
        self._loop = LoopingCall(self._look)
        self._loop.clock = clock

    def start(self) -> None:
        """Look every C{interval} seconds, starting one interval from now."""
        if not self._loop.running:
            self._loop.start(self.interval, now=False)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    def reapOrphans(self) -> list[int]:
        """
        Look once: reap the unclaimed zombies already seen at the previous look,
        remember the new ones. Return the pids reaped.
        """
        zombies: dict[int, str] = {}
        for child in self._children():
            try:
                if child.pid not in reapProcessHandlers and child.status() == psutil.STATUS_ZOMBIE:
                    zombies[child.pid] = child.name()
            except psutil.Error:
                continue  # it is gone already, or not ours to look at
        reaped = [
            pid for pid in sorted(zombies.keys() & self._suspects) if self._reap(pid, zombies[pid])
        ]
        self._suspects = zombies.keys() - reaped
        return reaped

    def _reap(self, pid: int, name: str) -> bool:
        if pid in reapProcessHandlers:
            return False
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return False  # someone else reaped it
        if not got:
            return False
        self.reaped += 1
        self.log.info(
            "reaped orphan {pid} ({name}): {status}",
            pid=pid,
            name=name,
            status=describeStatus(status),
            waitStatus=status,
        )
        return True

    def _look(self) -> None:
        with self.log.failuresHandled("looking for orphans failed:"):
            self.reapOrphans()
