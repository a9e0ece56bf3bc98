# -*- test-case-name: tests.worker.test_link -*-
"""The worker's pipes to the master: commands in, events out.

Commands arrive on fd 3 (L{wire.COMMAND_FD}), read by L{MasterLink}; EOF there
means the master is gone. Events leave on fd 4 (L{wire.EVENT_FD}), written by
L{sendEvent}.
"""

from __future__ import annotations

import os

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
    """The command pipe, seen from the worker: C{drain} lines in; EOF means the master died."""

    delimiter = b"\n"
    log = Logger()

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def lineReceived(self, line: bytes) -> None:
        try:
            kind = wire.decode(line)["kind"]
        except ValueError:
            self.log.warn("ignoring a malformed command: {line!r}", line=line[:200])
            return
        if kind == wire.Command.DRAIN:
            self.worker.stop()

    def connectionLost(self, reason: object = None) -> None:
        self.worker.masterGone()
