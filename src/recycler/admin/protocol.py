# -*- test-case-name: tests.admin.test_protocol -*-
"""The admin port's connections: framing, sessions, flow control and the error policy.

L{AdminFactory} builds one L{AdminProtocol} per client, up to a limit; each
enforces the line length, the idle timeout and the optional token, and runs the
commands of L{recycler.admin.commands}. The wire protocol is in C{docs/admin.md}.

Error policy: L{AdminError} (the admin's own refusals, bad numbers included)
and L{PoolError} (the pool's) are the operator's errors, answered
C{error: <message>}. Any other exception is a bug: its traceback is logged, the
answer is C{error: internal error (logged)}, and the connection and the master
carry on. Nothing a client sends raises out of the protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.internet.interfaces import IAddress, IPushProducer, IReactorTime
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from recycler.admin import render
from recycler.admin.commands import REGISTRY, AdminError, Reply
from recycler.admin.interfaces import AdminPool
from recycler.admin.token import checkToken, tokenMatches
from recycler.master.config import PoolError
from recycler.master.memory import residentBytes

MAX_LINE = 4096
"""The longest command line accepted, in bytes; a longer one closes the connection."""

MAX_AUTH_FAILURES = 3
"""Wrong tokens a connection may send before it is closed."""

OPERATOR_ERRORS = (AdminError, PoolError)
"""The exceptions whose message is meant for the operator, sent as C{error: ...}."""


@implementer(IPushProducer)
class AdminProtocol(LineOnlyReceiver, TimeoutMixin):
    """
    One admin client, and the L{recycler.admin.commands.Session} its commands run in.

    It is the producer of its own output, so a client that does not read its
    replies cannot grow the master's memory: while the transport's write buffer
    is full, the protocol stops reading commands and drops C{watch} events.

    @ivar factory: The L{AdminFactory} that built this protocol.
    @ivar jsonMode: Whether replies are JSON (toggled by C{json}).
    @ivar authenticated: Whether the client may run every command.
    @ivar watching: Whether the client is in C{watch} mode.
    """

    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE
    log = Logger()

    factory: AdminFactory

    def __init__(self) -> None:
        self.jsonMode = False
        self.authenticated = False
        self.watching = False
        self._watchJSON = False
        self._dropped = 0
        self._outputIsPaused = False
        self._authFailures = 0
        self._throttled = False

    # Connection

    def connectionMade(self) -> None:
        factory = self.factory
        self.callLater = factory.clock.callLater  # TimeoutMixin schedules with this
        self.authenticated = factory.token is None
        if len(factory.clients) >= factory.maxClients:
            self.log.warn("admin: refused {peer}: too many clients", peer=self._peer())
            self._send(self._errorLine("too many admin clients"))
            self.transport.loseConnection()
            return
        factory.clients.add(self)
        self.transport.registerProducer(self, True)
        self._throttled = True
        self.setTimeout(factory.idleTimeout)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.setTimeout(None)
        if self.watching:
            self._stopWatching()
        self.factory.clients.discard(self)

    def dataReceived(self, data: bytes) -> None:
        if self.transport.disconnecting:
            return
        super().dataReceived(data)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._send(self._errorLine(f"line too long (over {self.MAX_LENGTH} bytes), closing"))
        self.close()

    def timeoutConnection(self) -> None:
        self._send(self._errorLine(f"idle for {render.formatNumber(self.timeOut)}s, closing"))
        self.close()

    # IPushProducer: flow control of the output

    def pauseProducing(self) -> None:
        """The transport's write buffer is full: stop reading commands."""
        self._outputIsPaused = True
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        """The client caught up: read commands again, say how many events it missed."""
        self._outputIsPaused = False
        self.transport.resumeProducing()
        if self.watching and self._dropped:
            dropped, self._dropped = self._dropped, 0
            self._sendEvent({"event": "dropped", "count": dropped})

    def stopProducing(self) -> None:
        """The connection is going away; L{connectionLost} cleans up."""

    # Lines

    def lineReceived(self, line: bytes) -> None:
        self.resetTimeout()
        line = line.removesuffix(b"\r")
        if self.watching:
            self._stopWatching()
            self.setTimeout(self.factory.idleTimeout)
            self._sendReply(Reply(data={"watching": False}), self._watchJSON)
            return
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self._send(self._errorLine("the line is not UTF-8 text (try 'help')"))
            return
        words = text.split()
        if not words:
            return
        asJSON = "--json" in words[1:]
        try:
            self._run(words[0], words[1:])
        except OPERATOR_ERRORS as e:
            self._send(self._errorLine(str(e), asJSON))
            if isinstance(e, AdminError) and e.close:
                self.close()
        except Exception:
            spec = REGISTRY.get(words[0].lower())
            shown = words[0] if spec is not None and spec.secret else text[:200]
            self.log.failure(
                "admin {peer}: command {command!r} failed", peer=self._peer(), command=shown
            )
            self._send(self._errorLine("internal error (logged)", asJSON))

    def _run(self, name: str, words: Sequence[str]) -> None:
        spec = REGISTRY.get(name.lower())
        if spec is None:
            raise AdminError(f"unknown command '{render.printable(name, 40)}' (try 'help')")
        if not (spec.open or self.authenticated):
            raise AdminError("authentication required")
        reply = spec.run(self, words)
        self._sendReply(reply, self.jsonMode or "--json" in words)
        if reply.then is not None:
            reply.then()

    # Session: what commands see (recycler.admin.commands.Session)

    @property
    def pool(self) -> AdminPool[Any]:
        return self.factory.pool

    def now(self) -> float:
        return self.factory.clock.seconds()

    def memoryOf(self, pid: int | None) -> int | None:
        return self.factory.memoryOf(pid)

    def authenticate(self, token: str) -> None:
        if tokenMatches(self.factory.token, token):
            self.authenticated = True
            return
        self._authFailures += 1
        self.log.warn(
            "admin {peer}: bad token ({failures} of {limit})",
            peer=self._peer(),
            failures=self._authFailures,
            limit=MAX_AUTH_FAILURES,
        )
        if self._authFailures >= MAX_AUTH_FAILURES:
            raise AdminError("bad token (too many attempts, closing)", close=True)
        raise AdminError("bad token")

    def audit(self, command: str) -> None:
        self.log.info("admin {peer}: {command}", peer=self._peer(), command=command[:200])

    def startWatching(self, asJSON: bool) -> None:
        # No event can arrive before the reply is written: the reactor is busy with us.
        self.factory.pool.events.addObserver(self._poolEvent)
        self.setTimeout(None)
        self.watching = True
        self._watchJSON = asJSON
        self._dropped = 0

    def close(self) -> None:
        """
        Close once the replies are written. The producer is unregistered first:
        while it is registered and paused, Twisted would resume it when the
        buffer drains instead of closing.
        """
        if self._throttled:
            self._throttled = False
            self.transport.unregisterProducer()
        self.transport.loseConnection()

    # Watching

    def _stopWatching(self) -> None:
        self.watching = False
        self.factory.pool.events.removeObserver(self._poolEvent)

    def _poolEvent(self, event: Mapping[str, Any]) -> None:
        """Relay a worker event of the pool to the client; never raises into the publisher."""
        try:
            fields = render.watchFields(event)
            if fields is None or not self.watching or self.transport.disconnecting:
                return
            if self._outputIsPaused:
                self._dropped += 1
                return
            self._sendEvent(fields)
        except Exception:
            self.log.failure("admin: cannot relay a pool event")

    def _sendEvent(self, fields: Mapping[str, Any]) -> None:
        self._send(render.eventLine(fields, self._watchJSON))

    # Output

    def _sendReply(self, reply: Reply, asJSON: bool) -> None:
        for line in render.replyLines(reply.lines, reply.last, reply.data, asJSON):
            self._send(line)

    def _errorLine(self, message: str, asJSON: bool = False) -> str:
        return render.errorLine(message, self.jsonMode or asJSON)

    def _send(self, line: str) -> None:
        self.sendLine(line.encode("utf-8", "replace"))

    def _peer(self) -> str:
        peer: IAddress = self.transport.getPeer()
        host = getattr(peer, "host", None)
        return str(peer) if host is None else f"{host}:{getattr(peer, 'port', '?')}"


class AdminFactory(Factory):
    """
    Builds the admin port's L{AdminProtocol}s for one pool.

    @ivar pool: The pool the commands drive.
    @ivar clock: Gives ages and runs the idle timeouts.
    @ivar token: The token clients must send with C{auth} first, or L{None}.
    @ivar maxClients: Clients served at once; more are refused.
    @ivar idleTimeout: Seconds of silence after which a client is disconnected
        (not while it watches), or L{None} for never.
    @ivar memoryOf: Resident bytes of a pid, or L{None} if unknown.
    @ivar clients: The connected clients (those refused are not counted).
    """

    protocol = AdminProtocol
    noisy = False

    def __init__(
        self,
        pool: AdminPool[Any],
        clock: IReactorTime,
        token: str | None = None,
        maxClients: int = 16,
        idleTimeout: float | None = 300.0,
        memoryOf: Callable[[int | None], int | None] = residentBytes,
    ) -> None:
        checkToken(token)
        self.pool = pool
        self.clock = clock
        self.token = token
        self.maxClients = maxClients
        self.idleTimeout = idleTimeout
        self.memoryOf = memoryOf
        self.clients: set[AdminProtocol] = set()
