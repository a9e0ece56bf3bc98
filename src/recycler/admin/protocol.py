"""The admin port: a line protocol an operator drives with telnet, nc or a script.

One command per line; every reply ends with a line C{ok} (after any data lines),
or is a single line C{error: <message>}. In JSON mode (C{json}, or C{--json} on
one command) every reply is one JSON object on one line. C{watch} streams the
pool's events until the client sends a line. See C{docs/admin.md}.

L{AdminFactory} builds one L{AdminProtocol} per client and enforces the
connection limit; each protocol enforces the idle timeout, the optional token
and the line length. Nothing a client sends can raise out of the protocol: the
pool's own refusals (L{recycler.pool.PoolError}, L{ValueError}) become C{error:}
lines, anything else is logged and answered C{error: internal error ...}.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs
from twisted.internet.interfaces import IAddress, IPushProducer, IReactorTime
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from recycler.admin import render as adminformat
from recycler.master.memory import residentBytes
from recycler.master.policy import TTLRange
from recycler.master.pool import PoolError

MAX_LINE = 4096
"""The longest command line accepted, in bytes; a longer one closes the connection."""

MAX_AUTH_FAILURES = 3
"""Wrong tokens a connection may send before it is closed."""


class AdminWorker(Protocol):
    """What the admin port reads from a worker (a L{recycler.workerprocess.WorkerProcess})."""

    workerId: int
    pid: int | None
    state: Any
    spawnedAt: float
    served: int
    inFlight: int
    recycleReason: str | None

    def ttlLeft(self, now: float) -> float | None: ...


class AdminPool(Protocol):
    """What the admin port drives (a L{recycler.pool.WorkerPool})."""

    target: int
    ttl: TTLRange | None
    crashStreak: int

    @property
    def workers(self) -> Mapping[int, AdminWorker]: ...

    def spawn(self, count: int) -> None: ...

    def kill(self, workerId: int, now: bool = False, force: bool = False) -> None: ...

    def scale(self, target: int) -> None: ...

    def reload(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    def nextRespawnIn(self) -> float | None: ...

    def addObserver(self, observer: Callable[[dict[str, Any]], None]) -> None: ...

    def removeObserver(self, observer: Callable[[dict[str, Any]], None]) -> None: ...


def checkToken(token: str | None) -> None:
    """
    Refuse a token no client could send: empty, or with white space in it.

    @raise ValueError: with a message meant for the operator.
    """
    if token is not None and (not token or token != "".join(token.split())):
        raise ValueError("the admin token must be one word, without spaces")


class AdminError(Exception):
    """
    A command that cannot be carried out; the message is sent as C{error: ...}.

    @ivar close: Close the connection after the error line.
    """

    def __init__(self, message: str, close: bool = False) -> None:
        super().__init__(message)
        self.close = close


OPERATOR_ERRORS = (AdminError, PoolError, ValueError)
"""The exceptions whose message is meant for the operator, sent as C{error: ...}."""


@attrs.frozen
class Reply:
    """
    What a command answers.

    @ivar lines: Text lines sent before the closing line.
    @ivar data: Fields of the JSON reply (besides C{ok} and C{version}).
    @ivar last: The closing text line: C{ok}, or C{bye} for C{quit}.
    @ivar then: Called once the reply is written.
    """

    lines: Sequence[str] = ()
    data: Mapping[str, Any] = attrs.field(factory=dict)
    last: str = "ok"
    then: Callable[[], None] | None = None


@attrs.frozen
class CommandSpec:
    """
    One admin command.

    @ivar usage: Its synopsis, as C{help} and usage errors show it.
    @ivar summary: What it does, in one line.
    @ivar flags: The C{--flags} it takes besides C{--json}.
    @ivar open: Allowed before C{auth} when a token is set.
    @ivar mutating: Changes the pool; logged with the client's address.
    """

    usage: str
    summary: str
    flags: frozenset[str] = frozenset()
    open: bool = False
    mutating: bool = False


COMMANDS: dict[str, CommandSpec] = {
    "list": CommandSpec(
        "list", "live workers: id, pid, state, age, TTL left, served, in flight, RSS, reason"
    ),
    "stats": CommandSpec("stats", "pool totals since start (monotonic across recycling)"),
    "metrics": CommandSpec("metrics", "pool totals in the Prometheus text format"),
    "watch": CommandSpec("watch", "stream worker events until you send a line"),
    "spawn": CommandSpec(
        "spawn [N]", "add N workers (default 1): raises the target", mutating=True
    ),
    "kill": CommandSpec(
        "kill ID [--now] [--force]",
        "recycle worker ID (replacement first); --now: SIGKILL; --force: even below target",
        flags=frozenset({"--now", "--force"}),
        mutating=True,
    ),
    "scale": CommandSpec("scale N", "keep N workers", mutating=True),
    "reload": CommandSpec("reload", "rolling restart of every worker", mutating=True),
    "ttl": CommandSpec(
        "ttl [MIN:MAX|off]", "show or set the TTL range of workers started from now on"
    ),
    "json": CommandSpec("json [on|off]", "toggle JSON replies for this connection"),
    "auth": CommandSpec("auth TOKEN", "authenticate (when the port has a token)", open=True),
    "help": CommandSpec("help", "this list", open=True),
    "quit": CommandSpec("quit", "close the connection", open=True),
}


@implementer(IPushProducer)
class _OutputThrottle:
    """
    Registered with the transport so a client that does not read its replies
    cannot grow the master's memory: while the transport's write buffer is
    full, the protocol stops reading commands and drops C{watch} events.
    """

    def __init__(self, protocol: AdminProtocol) -> None:
        self._protocol = protocol

    def pauseProducing(self) -> None:
        self._protocol.outputPaused()

    def resumeProducing(self) -> None:
        self._protocol.outputResumed()

    def stopProducing(self) -> None:
        pass


class AdminProtocol(LineOnlyReceiver, TimeoutMixin):
    """
    One admin client.

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
        self._accepted = False
        self._throttled = False

    # Connection

    def connectionMade(self) -> None:
        factory = self.factory
        self.callLater = factory.clock.callLater  # TimeoutMixin schedules with this
        self.authenticated = factory.token is None
        if not factory.clientConnected(self):
            self.log.warn("admin: refused {peer}: too many clients", peer=self._peer())
            self._send(self._errorLine("too many admin clients", False))
            self.transport.loseConnection()
            return
        self._accepted = True
        self.transport.registerProducer(_OutputThrottle(self), True)
        self._throttled = True
        self.setTimeout(factory.idleTimeout)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.setTimeout(None)
        if self.watching:
            self._stopWatching()
        if self._accepted:
            self._accepted = False
            self.factory.clientDisconnected(self)

    def dataReceived(self, data: bytes) -> None:
        if self.transport.disconnecting:
            return
        super().dataReceived(data)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._buffer = b""
        self._send(self._errorLine(f"line too long (over {self.MAX_LENGTH} bytes), closing"))
        self._close()

    def timeoutConnection(self) -> None:
        self._send(self._errorLine(f"idle for {adminformat.formatNumber(self.timeOut)}s, closing"))
        self._close()

    def _close(self) -> None:
        """
        Close once the replies are written. The throttle is unregistered first:
        while it is registered and paused, Twisted would resume it when the
        buffer drains instead of closing.
        """
        if self._throttled:
            self._throttled = False
            self.transport.unregisterProducer()
        self.transport.loseConnection()

    # Flow control (called by _OutputThrottle)

    def outputPaused(self) -> None:
        """The transport's write buffer is full: stop reading commands."""
        self._outputIsPaused = True
        self.transport.pauseProducing()

    def outputResumed(self) -> None:
        """The client caught up: read commands again, say how many events it missed."""
        self._outputIsPaused = False
        self.transport.resumeProducing()
        if self.watching and self._dropped:
            dropped, self._dropped = self._dropped, 0
            self._sendEvent({"event": "dropped", "count": dropped})

    # Lines

    def lineReceived(self, line: bytes) -> None:
        self.resetTimeout()
        if line.endswith(b"\r"):
            line = line[:-1]
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
        try:
            self._run(words)
        except Exception:
            self.log.failure("admin: command {command!r} failed", command=text[:200])
            self._send(self._errorLine("internal error (see the master's log)"))

    def _run(self, words: list[str]) -> None:
        name, rest = words[0].lower(), words[1:]
        jsonFlag = "--json" in rest
        spec = COMMANDS.get(name)
        if spec is None:
            unknown = adminformat.printable(words[0], 40)
            self._send(self._errorLine(f"unknown command '{unknown}' (try 'help')", jsonFlag))
            return
        if not (spec.open or self.authenticated):
            self._send(self._errorLine("authentication required", jsonFlag))
            return
        if name == "auth":
            # A token is one word, whatever it looks like; only --json is a flag.
            flags = {"--json"} & set(rest)
            args = [word for word in rest if word != "--json"]
        else:
            flags = {word for word in rest if word.startswith("--")}
            args = [word for word in rest if not word.startswith("--")]
        try:
            if not flags <= spec.flags | {"--json"}:
                raise AdminError(f"usage: {spec.usage}")
            if spec.mutating:
                self.log.info(
                    "admin {peer}: {command}", peer=self._peer(), command=" ".join(words)[:200]
                )
            reply = getattr(self, f"command_{name}")(args, flags)
        except OPERATOR_ERRORS as e:
            self._send(self._errorLine(str(e), jsonFlag))
            if isinstance(e, AdminError) and e.close:
                self._close()
            return
        self._sendReply(reply, self.jsonMode or jsonFlag)
        if reply.then is not None:
            reply.then()

    # Commands: each takes the arguments and the flags (--json included) and
    # returns a Reply, or raises one of OPERATOR_ERRORS.

    def command_help(self, args: list[str], flags: set[str]) -> Reply:
        self._noArguments("help", args)
        width = max(len(spec.usage) for spec in COMMANDS.values()) + 2
        lines = [f"{spec.usage:<{width}}{spec.summary}" for spec in COMMANDS.values()]
        lines.append("every command also takes --json: a one-line JSON reply")
        commands = [
            {"name": name, "usage": spec.usage, "summary": spec.summary}
            for name, spec in COMMANDS.items()
        ]
        return Reply(lines, {"commands": commands})

    def command_quit(self, args: list[str], flags: set[str]) -> Reply:
        self._noArguments("quit", args)
        return Reply(data={"bye": True}, last="bye", then=self._close)

    def command_auth(self, args: list[str], flags: set[str]) -> Reply:
        if len(args) != 1:
            raise AdminError(f"usage: {COMMANDS['auth'].usage}")
        token = self.factory.token
        if token is None or hmac.compare_digest(args[0].encode(), token.encode()):
            self.authenticated = True
            return Reply(data={"authenticated": True})
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

    def command_json(self, args: list[str], flags: set[str]) -> Reply:
        if len(args) > 1 or (args and args[0].lower() not in ("on", "off")):
            raise AdminError(f"usage: {COMMANDS['json'].usage}")
        self.jsonMode = (args[0].lower() == "on") if args else not self.jsonMode
        return Reply(data={"json": self.jsonMode})

    def command_list(self, args: list[str], flags: set[str]) -> Reply:
        self._noArguments("list", args)
        pool = self.factory.pool
        now = self.factory.clock.seconds()
        rows = [
            adminformat.workerRow(worker, now, self.factory.memoryOf(worker.pid))
            for _, worker in sorted(pool.workers.items())
        ]
        backoff = self._backoff()
        lines = adminformat.listLines(pool.target, rows, backoff)
        return Reply(lines, {"target": pool.target, "workers": rows, "backoff": backoff})

    def command_stats(self, args: list[str], flags: set[str]) -> Reply:
        self._noArguments("stats", args)
        stats = self.factory.pool.stats()
        backoff = self._backoff()
        return Reply(adminformat.statsLines(stats, backoff), {"stats": stats, "backoff": backoff})

    def command_metrics(self, args: list[str], flags: set[str]) -> Reply:
        self._noArguments("metrics", args)
        pool = self.factory.pool
        stats = pool.stats()
        return Reply(
            adminformat.metricsLines(stats, pool.crashStreak),
            {"metrics": adminformat.metricsObject(stats, pool.crashStreak)},
        )

    def command_watch(self, args: list[str], flags: set[str]) -> Reply:
        self._noArguments("watch", args)
        # Subscribe now, so a failure is this command's one error line; no event
        # can arrive before the reply is written, the reactor is busy with us.
        self._startWatching(self.jsonMode or "--json" in flags)
        return Reply(data={"watching": True})

    def command_spawn(self, args: list[str], flags: set[str]) -> Reply:
        if len(args) > 1:
            raise AdminError(f"usage: {COMMANDS['spawn'].usage}")
        count = _integer(args[0], "N") if args else 1
        self.factory.pool.spawn(count)
        return Reply(data={"target": self.factory.pool.target})

    def command_kill(self, args: list[str], flags: set[str]) -> Reply:
        if len(args) != 1:
            raise AdminError(f"usage: {COMMANDS['kill'].usage}")
        workerId = _integer(args[0], "worker id")
        self.factory.pool.kill(workerId, now="--now" in flags, force="--force" in flags)
        return Reply(data={"workerId": workerId})

    def command_scale(self, args: list[str], flags: set[str]) -> Reply:
        if len(args) != 1:
            raise AdminError(f"usage: {COMMANDS['scale'].usage}")
        self.factory.pool.scale(_integer(args[0], "N"))
        return Reply(data={"target": self.factory.pool.target})

    def command_reload(self, args: list[str], flags: set[str]) -> Reply:
        self._noArguments("reload", args)
        self.factory.pool.reload()
        return Reply()

    def command_ttl(self, args: list[str], flags: set[str]) -> Reply:
        if len(args) > 1:
            raise AdminError(f"usage: {COMMANDS['ttl'].usage}")
        pool = self.factory.pool
        if args:
            self.log.info("admin {peer}: ttl {ttl}", peer=self._peer(), ttl=args[0][:100])
            pool.ttl = TTLRange.parse(args[0])
        ttl = pool.ttl
        text = "off" if ttl is None else str(ttl)
        data = None if ttl is None else {"min": ttl.minimum, "max": ttl.maximum}
        return Reply([f"ttl {text}"], {"ttl": data})

    # Watching

    def _startWatching(self, asJSON: bool) -> None:
        self.factory.pool.addObserver(self._poolEvent)
        self.setTimeout(None)
        self.watching = True
        self._watchJSON = asJSON
        self._dropped = 0

    def _stopWatching(self) -> None:
        self.watching = False
        try:
            self.factory.pool.removeObserver(self._poolEvent)
        except Exception:
            self.log.failure("admin: cannot remove a watch observer")

    def _poolEvent(self, event: dict[str, Any]) -> None:
        """Relay one pool event to the client; never raises into the pool."""
        try:
            if not self.watching or self.transport.disconnecting:
                return
            if self._outputIsPaused:
                self._dropped += 1
                return
            self._sendEvent(event)
        except Exception:
            self.log.failure("admin: cannot relay a pool event")

    def _sendEvent(self, event: Mapping[str, Any]) -> None:
        if self._watchJSON:
            line = adminformat.jsonLine({"version": adminformat.SCHEMA_VERSION, **event})
        else:
            line = adminformat.eventText(event)
        self._send(line)

    # Helpers

    def _backoff(self) -> dict[str, Any] | None:
        pool = self.factory.pool
        if not pool.crashStreak:
            return None
        nextIn = pool.nextRespawnIn()
        return {
            "streak": pool.crashStreak,
            "nextAttemptIn": None if nextIn is None else round(nextIn, 3),
        }

    def _noArguments(self, name: str, args: list[str]) -> None:
        if args:
            raise AdminError(f"usage: {COMMANDS[name].usage}")

    def _sendReply(self, reply: Reply, asJSON: bool) -> None:
        if asJSON:
            fields = {"ok": True, "version": adminformat.SCHEMA_VERSION, **reply.data}
            self._send(adminformat.jsonLine(fields))
            return
        for line in reply.lines:
            self._send(line)
        self._send(reply.last)

    def _errorLine(self, message: str, asJSON: bool = False) -> str:
        message = " ".join(message.split()) or "failed"
        if self.jsonMode or asJSON:
            return adminformat.jsonLine(
                {"ok": False, "version": adminformat.SCHEMA_VERSION, "error": message}
            )
        return f"error: {message}"

    def _send(self, line: str) -> None:
        self.sendLine(line.encode("utf-8", "replace"))

    def _peer(self) -> str:
        try:
            peer: IAddress = self.transport.getPeer()
        except Exception:
            return "?"
        host, port = getattr(peer, "host", None), getattr(peer, "port", None)
        return f"{host}:{port}" if host is not None else str(peer)


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise AdminError(
            f"{what} must be an integer, not '{adminformat.printable(text, 40)}'"
        ) from None


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
    @ivar clients: The connected (accepted) clients.
    """

    protocol = AdminProtocol
    noisy = False

    def __init__(
        self,
        pool: AdminPool,
        clock: IReactorTime,
        token: str | None = None,
        maxClients: int = 16,
        idleTimeout: float | None = 300.0,
        memoryOf: Callable[[int | None], int | None] = residentBytes,
    ) -> None:
        self.pool = pool
        self.clock = clock
        checkToken(token)
        self.token = token
        self.maxClients = maxClients
        self.idleTimeout = idleTimeout
        self.memoryOf = memoryOf
        self.clients: set[AdminProtocol] = set()

    def clientConnected(self, client: AdminProtocol) -> bool:
        """Count a new client in; C{False} (and not counted) if the limit is reached."""
        if len(self.clients) >= self.maxClients:
            return False
        self.clients.add(client)
        return True

    def clientDisconnected(self, client: AdminProtocol) -> None:
        self.clients.discard(client)
