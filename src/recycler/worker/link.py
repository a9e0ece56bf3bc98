# -*- test-case-name: tests.worker.test_link -*-
"""The worker's pipes to the master: commands in, events out.

Commands arrive on fd 3 (L{wire.COMMAND_FD}), read by L{MasterLink}: C{drain},
and C{reopen} for the access log; EOF there means the master is gone. Events
leave on fd 4 (L{wire.EVENT_FD}), written by L{sendEvent}.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver

from recycler import wire
from recycler.worker.lifecycle import Worker


def sendEvent(kind: wire.Event, **fields: object) -> bool:
    """
    Write one event to the master, synchronously (each is one atomic write).

    @return: whether it was written; it is dropped if the pipe is full or gone.
    """
    try:
        os.write(wire.EVENT_FD, wire.encode(kind, **fields))
    except OSError:
        return False
    return True


class MasterLink(LineOnlyReceiver):
    """
    The command pipe, seen from the worker: C{drain} and C{reopen} lines in;
    EOF means the master died.

    @ivar reopenLogs: Reopens the access log, or L{None} if the worker has none.
    """

    delimiter = b"\n"
    log = Logger()

    def __init__(self, worker: Worker, reopenLogs: Callable[[], None] | None = None) -> None:
        self.worker = worker
        self.reopenLogs = reopenLogs

    def lineReceived(self, line: bytes) -> None:
        try:
            kind = wire.decode(line)["kind"]
        except ValueError:
            self.log.warn("ignoring a malformed command: {line!r}", line=line[:200])
            return
        if kind == wire.Command.DRAIN:
            self.worker.stop()
        elif kind == wire.Command.REOPEN and self.reopenLogs is not None:
            self.reopenLogs()

    def connectionLost(self, reason: object = None) -> None:
        self.worker.masterGone()
