"""A line echo server (any TCP protocol works) served by recycler's workers.

    twistd -n recycler --listen tcp:10007 --app examples.echo:factory
    nc 127.0.0.1 10007

(run from the repository root, so that ``examples`` is importable).

A protocol may define ``drain()``: a worker that is recycled calls it on every
open connection, so the protocol can close politely. This one closes at once if
no line is half-received, else right after echoing that line.
"""

from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver


class LineEcho(LineReceiver):
    delimiter = b"\n"
    draining = False

    def lineReceived(self, line: bytes) -> None:
        self.sendLine(line)
        if self.draining:
            self.transport.loseConnection()

    def drain(self) -> None:
        self.draining = True
        if not self._buffer:
            self.transport.loseConnection()


factory = Factory.forProtocol(LineEcho)
