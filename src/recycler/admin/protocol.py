# -*- test-case-name: tests.admin.test_protocol -*-
"""The admin port's sessions: commands, timeouts, the client limit and the error policy.

L{AdminFactory} builds one L{AdminProtocol} per client (at its limit it closes the
idlest one to make room); each reads lines from its L{LineConnection} base, enforces
the timeouts and the optional token, and runs the commands of
L{recycler.admin.commands}. The wire protocol is in C{docs/admin.md}.

Error policy: L{AdminError} (the admin's own refusals, bad numbers included)
and L{PoolError} (the pool's) are the operator's errors, answered
C{error: <message>}. Any other exception is a bug: its traceback is logged, the
answer is C{error: internal error (logged)}, and the connection and the master
carry on. Nothing a client sends raises out of the protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from recycler.admin import render
from recycler.admin.commands import REGISTRY, AdminError, Reply
from recycler.admin.connection import LineConnection
from recycler.admin.guard import AuthThrottle
from recycler.admin.interfaces import AdminPool
from recycler.admin.token import checkToken, tokenMatches
from recycler.admin.watch import Watch
from recycler.master.config import PoolError
from recycler.master.memory import residentBytes

MAX_AUTH_FAILURES = 3
"""Wrong tokens a connection may send before it is closed."""

OPERATOR_ERRORS = (AdminError, PoolError)
"""The exceptions whose message is meant for the operator, sent as C{error: ...}."""


class AdminProtocol(LineConnection, TimeoutMixin):
    """
    One admin client, and the L{recycler.admin.commands.Session} its commands run in.

    @ivar factory: The L{AdminFactory} that built this protocol.
    @ivar jsonMode: Whether replies are JSON (toggled by C{json}).
    @ivar authenticated: Whether the client may run every command.
    @ivar lastActive: When the client connected or last sent a line.
    @ivar connectedAt: When the client connected.
    """

    log = Logger()

    factory: AdminFactory

    def __init__(self) -> None:
        super().__init__()
        self.jsonMode = False
        self.authenticated = False
        self.lastActive = self.connectedAt = 0.0
        self._spoke = False
        self._watch: Watch | None = None
        self._authFailures = 0

    @property
    def watching(self) -> bool:
        """Whether the client is in C{watch} mode."""
        return self._watch is not None

    # Connection

    def connectionMade(self) -> None:
        factory = self.factory
        self.callLater = factory.clock.callLater  # TimeoutMixin and hold schedule with this
        self.authenticated = factory.token is None
        self.lastActive = self.connectedAt = factory.clock.seconds()
        if not factory.admit(self):
            self.log.warn("admin: refused {peer}: too many clients", peer=self.peer())
            self.send(self._errorLine("too many admin clients"))
            self.transport.loseConnection()
            return
        self.startProducing()
        self._armTimeout()

    def connectionLost(self, reason: Failure | None = None) -> None:
        super().connectionLost(reason)
        self.setTimeout(None)
        self._stopWatching()
        self.factory.clients.discard(self)

    def timeoutConnection(self) -> None:
        unauthenticated = "" if self.authenticated else " without auth"
        idle = f"idle for {render.formatNumber(self.timeOut)}s{unauthenticated}"
        self.send(self._errorLine(f"{idle}, closing"))
        self.close()

    def _armTimeout(self) -> None:
        """Time out as L{AdminFactory.idleTimeout} and L{AdminFactory.preAuthTimeout} say."""
        factory = self.factory
        if self.watching:
            period = None
        elif self.authenticated and self._spoke:
            period = factory.idleTimeout
        else:
            periods = (factory.preAuthTimeout, factory.idleTimeout)
            period = min((p for p in periods if p is not None), default=None)
        self.setTimeout(period)

    @property
    def evictable(self) -> bool:
        """Whether it may make room: unauthenticated, or neither watching nor behind on reading."""
        return not (self.authenticated and (self.watching or self.outputPaused))

    @property
    def idleness(self) -> tuple[bool, float]:
        """Idlest first: unauthenticated or silent, oldest connection first; then the quietest."""
        settled = self.authenticated and self._spoke
        return (settled, self.lastActive if settled else self.connectedAt)

    def evict(self) -> None:
        """Close this client to make room for a new one, telling it why."""
        self.log.info("admin {peer}: closed (idle) to make room for a new client", peer=self.peer())
        self.send(self._errorLine("too many admin clients: closing this idle one for a new one"))
        self.factory.clients.discard(self)
        self.close()

    # Input (LineConnection)

    def pauseProducing(self) -> None:
        super().pauseProducing()
        if self._watch is not None:
            self._watch.pause()

    def resumeProducing(self) -> None:
        if self._watch is not None:
            self._watch.resume()
        super().resumeProducing()

    def lineReceived(self, line: bytes) -> None:
        """Run the command on C{line}; a line sent while watching ends the watch instead."""
        self._received(line)

    def interrupted(self) -> None:
        """Ctrl-C: the partial line is dropped already; a watch ends."""
        self._received(None)

    def lineLengthExceeded(self) -> None:
        self.send(self._errorLine(f"line too long (over {self.maxLength} bytes), closing"))
        self.close()

    def inputEnded(self) -> None:
        """Every line is answered: close, unless watching (events go on until disconnected)."""
        if not self.watching:
            self.close()

    def _received(self, line: bytes | None) -> None:
        self.lastActive = self.factory.clock.seconds()
        self._spoke = True
        if self.watching:
            self._endWatch()
        elif line is not None:
            self._runLine(line)
        self._armTimeout()

    def _runLine(self, line: bytes) -> None:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self.send(self._errorLine("the line is not UTF-8 text (try 'help')"))
            return
        words = text.split()
        if not words:
            return
        asJSON = "--json" in words[1:]
        try:
            self._run(words[0], words[1:])
        except OPERATOR_ERRORS as e:
            error = e if isinstance(e, AdminError) else AdminError(str(e))
            self._refuse(self._errorLine(str(e), asJSON), error.close, error.delay)
        except Exception:
            spec = REGISTRY.get(words[0].lower())
            shown = words[0] if spec is not None and spec.secret else text[:200]
            self.log.failure(
                "admin {peer}: command {command!r} failed", peer=self.peer(), command=shown
            )
            self.send(self._errorLine("internal error (logged)", asJSON))

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

    def _refuse(self, line: str, close: bool, delay: float) -> None:
        """Send the error C{line}, then close if C{close}; in C{delay} seconds, if any."""
        if delay > 0:
            self.hold(delay, lambda: self._refuse(line, close, 0))
            return
        self.send(line)
        if close:
            self.close()

    # Session: what commands see (recycler.admin.commands.Session)

    @property
    def pool(self) -> AdminPool[Any]:
        return self.factory.pool

    def now(self) -> float:
        return self.factory.clock.seconds()

    def memoryOf(self, pid: int | None) -> int | None:
        return self.factory.memoryOf(pid)

    def authenticate(self, token: str) -> None:
        if (wait := self.factory.authThrottle.waitBefore(self.peerHost())) > 0:
            raise AdminError(f"too soon after a bad token from here; retry in {wait:.1f}s")
        if tokenMatches(self.factory.token, token):
            self.authenticated = True
            return
        self._authFailures += 1
        delay = self.factory.authThrottle.failed(self.peerHost(), self.peer(), self._authFailures)
        close = self._authFailures >= MAX_AUTH_FAILURES
        message = "bad token (too many attempts, closing)" if close else "bad token"
        raise AdminError(message, close=close, delay=delay)

    def audit(self, command: str) -> None:
        self.log.info("admin {peer}: {command}", peer=self.peer(), command=command[:200])

    def startWatching(self, asJSON: bool) -> None:
        # No event can arrive before the reply is written: the reactor is busy with us.
        self._watch = Watch(self.factory.pool.events, self.send, asJSON)
        self._watch.start()

    # Watching and output

    def _endWatch(self) -> None:
        asJSON = self._watch is not None and self._watch.asJSON
        self._stopWatching()
        self._sendReply(Reply(data={"watching": False}), asJSON)

    def _stopWatching(self) -> None:
        if self._watch is not None:
            self._watch.stop()
            self._watch = None

    def _sendReply(self, reply: Reply, asJSON: bool) -> None:
        for line in render.replyLines(reply.lines, reply.last, reply.data, asJSON):
            self.send(line)

    def _errorLine(self, message: str, asJSON: bool = False) -> str:
        return render.errorLine(message, self.jsonMode or asJSON)


class AdminFactory(Factory):
    """
    Builds the admin port's L{AdminProtocol}s for one pool.

    @ivar pool: The pool the commands drive.
    @ivar clock: Gives ages and runs the idle timeouts.
    @ivar token: The token clients must send with C{auth} first, or L{None}.
    @ivar maxClients: Clients served at once; one more closes the idlest
        (see L{admit}), or is refused if none is idle.
    @ivar idleTimeout: Seconds of silence after which a client is disconnected
        (not while it watches), or L{None} for never.
    @ivar preAuthTimeout: The same, shorter, for a client that sent no line
        yet or, with a token, did not authenticate; L{None} for the idle timeout.
    @ivar memoryOf: Resident bytes of a pid, or L{None} if unknown.
    @ivar clients: The connected clients (those refused are not counted).
    @ivar authThrottle: Delays the answers to wrong tokens, per client address.
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
        preAuthTimeout: float | None = 10.0,
        memoryOf: Callable[[int | None], int | None] = residentBytes,
    ) -> None:
        checkToken(token)
        self.pool = pool
        self.clock = clock
        self.token = token
        self.maxClients = maxClients
        self.idleTimeout = idleTimeout
        self.preAuthTimeout = preAuthTimeout
        self.memoryOf = memoryOf
        self.clients: set[AdminProtocol] = set()
        self.authThrottle = AuthThrottle(clock)

    def admit(self, client: AdminProtocol) -> bool:
        """
        Count C{client} in. At the limit, first close the idlest client of
        those L{AdminProtocol.evictable}, by L{AdminProtocol.idleness}.

        @return: L{False} if every client is busy: C{client} is not counted.
        """
        if len(self.clients) >= self.maxClients:
            idle = [other for other in self.clients if other.evictable]
            if not idle:
                return False
            min(idle, key=lambda other: other.idleness).evict()
        self.clients.add(client)
        return True
