# -*- test-case-name: tests.admin.test_commands -*-
"""The admin commands, each declared once: synopsis, summary, options and code together.

A command is a function decorated with L{command}, which adds it to L{REGISTRY};
C{help} lists the registry in declaration order, so a new command is one edit.
The synopsis is the spec: its C{[--flag]} words are the flags the command takes
(besides C{--json}), its other words the arguments (C{[X]}: optional), and the
arguments and flags are checked against it before the code runs.

A command gets the client's L{Session}, its arguments and its flags, and returns
a L{Reply} or raises L{AdminError} (or L{recycler.master.config.PoolError}) for the operator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from recycler.admin import health, render
from recycler.admin.interfaces import AdminPool
from recycler.admin.metrics import metricsFields, metricsLines
from recycler.master.policy import TTLRange


class AdminError(Exception):
    """
    A command that cannot be carried out; the message is sent as C{error: ...}.

    @ivar close: Close the connection after the error line.
    @ivar delay: Seconds to wait before the error line, reading nothing more
        from the client meanwhile.
    """

    def __init__(self, message: str, close: bool = False, delay: float = 0.0) -> None:
        super().__init__(message)
        self.close = close
        self.delay = delay


class UsageError(AdminError):
    """Arguments the command does not take; answered with its synopsis."""

    def __init__(self) -> None:
        super().__init__("usage")


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


class Session(Protocol):
    """What a command sees of the connection that runs it (an L{AdminProtocol})."""

    jsonMode: bool

    @property
    def pool(self) -> AdminPool[Any]: ...

    def now(self) -> float:
        """The current time, in seconds."""

    def memoryOf(self, pid: int | None) -> int | None:
        """Resident bytes of C{pid}, or L{None} if unknown."""

    def authenticate(self, token: str) -> None:
        """Unlock every command; raise L{AdminError} if C{token} is wrong."""

    def audit(self, command: str) -> None:
        """Log a change to the pool with the client's address."""

    def startWatching(self, asJSON: bool) -> None:
        """Relay the pool's worker events until the client sends a line."""

    def close(self) -> None:
        """Close the connection once the replies are written."""


CommandFunction = Callable[[Session, list[str], frozenset[str]], Reply]


@attrs.frozen
class Command:
    """
    One admin command.

    @ivar usage: Its synopsis, as C{help} and usage errors show it.
    @ivar summary: What it does, in one line.
    @ivar function: Its code.
    @ivar flags: The C{--flags} it takes besides C{--json}.
    @ivar arguments: The least and the most arguments it takes.
    @ivar open: Allowed before C{auth} when the port has a token.
    @ivar mutating: Changes the pool: logged with the client's address.
    @ivar secret: Its arguments are a secret: never logged, and taken as they
        come (a token may start with C{--}); only C{--json} is a flag.
    """

    usage: str
    summary: str
    function: CommandFunction
    flags: frozenset[str]
    arguments: tuple[int, int]
    open: bool = False
    mutating: bool = False
    secret: bool = False

    @property
    def name(self) -> str:
        return self.usage.split()[0]

    def run(self, session: Session, words: Sequence[str]) -> Reply:
        """Run with C{words} (what followed the name), checked against the synopsis."""
        if self.secret:
            flags = frozenset({"--json"} & set(words))
            args = [word for word in words if word != "--json"]
        else:
            flags = frozenset(word for word in words if word.startswith("--"))
            args = [word for word in words if not word.startswith("--")]
        least, most = self.arguments
        if not (flags <= self.flags | {"--json"} and least <= len(args) <= most):
            raise AdminError(f"usage: {self.usage}")
        if self.mutating:
            session.audit(" ".join([self.name, *words]))
        try:
            return self.function(session, args, flags)
        except UsageError:
            raise AdminError(f"usage: {self.usage}") from None


REGISTRY: dict[str, Command] = {}
"""Every command by name, in the order C{help} lists them."""


def command(
    usage: str, summary: str, *, open: bool = False, mutating: bool = False, secret: bool = False
) -> Callable[[CommandFunction], CommandFunction]:
    """Declare the decorated function as the command C{usage} describes (see the module)."""
    name, *words = usage.split()
    flags = frozenset(word[1:-1] for word in words if word.startswith("[--"))
    arguments = [word for word in words if not word.startswith("[--")]
    optional = sum(word.startswith("[") for word in arguments)

    def register(function: CommandFunction) -> CommandFunction:
        if name in REGISTRY:
            raise ValueError(f"admin command {name!r} is declared twice")
        REGISTRY[name] = Command(
            usage,
            summary,
            function,
            flags,
            (len(arguments) - optional, len(arguments)),
            open,
            mutating,
            secret,
        )
        return function

    return register


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise AdminError(f"{what} must be an integer, not '{render.printable(text, 40)}'") from None


@command("list", "live workers: id, pid, state, age, TTL left, served, in flight, RSS, reason")
def listWorkers(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    pool, now = session.pool, session.now()
    rows = [
        render.workerRow(worker, now, session.memoryOf(worker.pid), pool.pendingReason(worker))
        for _, worker in sorted(pool.workers.items())
    ]
    stats = pool.stats()
    backoff, forkServer = health.backoffFields(stats), health.forkServerFields(stats)
    lines = render.listLines(pool.target, rows, backoff, forkServer)
    data = {"target": pool.target, "workers": rows, "backoff": backoff, "forkServer": forkServer}
    return Reply(lines, data)


@command("stats", "pool totals since start (monotonic across recycling)")
def showStats(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    stats = session.pool.stats()
    data = {"stats": render.statsFields(stats), "backoff": health.backoffFields(stats)}
    return Reply(render.statsLines(stats), data)


@command("metrics", "pool totals in the Prometheus text format")
def showMetrics(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    stats = session.pool.stats()
    return Reply(metricsLines(stats), {"metrics": metricsFields(stats)})


@command("watch", "stream worker events until you send a line")
def watchEvents(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    session.startWatching(session.jsonMode or "--json" in flags)
    return Reply(data={"watching": True})


@command("spawn [N]", "add N workers (default 1): raises the target", mutating=True)
def spawnWorkers(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    session.pool.spawn(_integer(args[0], "N") if args else 1)
    return Reply(data={"target": session.pool.target})


@command(
    "kill ID [--now] [--force]",
    "recycle worker ID (replacement first); --now: SIGKILL; --force: even below target",
    mutating=True,
)
def killWorker(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    workerId = _integer(args[0], "worker id")
    if "--now" in flags:
        session.pool.kill(workerId, force="--force" in flags)
    elif "--force" in flags:
        raise AdminError("--force goes with --now (a plain kill never lowers capacity)")
    else:
        session.pool.recycle(workerId)
    return Reply(data={"workerId": workerId})


@command("scale N", "keep N workers", mutating=True)
def scalePool(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    session.pool.scale(_integer(args[0], "N"))
    return Reply(data={"target": session.pool.target})


@command("reload", "rolling restart of every worker", mutating=True)
def reloadPool(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    session.pool.reload()
    return Reply()


@command("ttl [MIN:MAX|off]", "show or set the TTL range of workers started from now on")
def showOrSetTTL(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    pool = session.pool
    if args:
        session.audit(f"ttl {args[0]}")
        try:
            ttl = TTLRange.parse(args[0])
        except ValueError as e:
            raise AdminError(str(e)) from None
        pool.setTTL(ttl)
    ttl = pool.ttl
    data = None if ttl is None else {"min": ttl.minimum, "max": ttl.maximum}
    return Reply([f"ttl {'off' if ttl is None else ttl}"], {"ttl": data})


@command("json [on|off]", "toggle JSON replies for this connection")
def toggleJSON(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    if args and args[0].lower() not in ("on", "off"):
        raise UsageError()
    session.jsonMode = (args[0].lower() == "on") if args else not session.jsonMode
    return Reply(data={"json": session.jsonMode})


@command("auth TOKEN", "authenticate (when the port has a token)", open=True, secret=True)
def authenticate(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    session.authenticate(args[0])
    return Reply(data={"authenticated": True})


@command("help", "this list", open=True)
def showHelp(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    width = max(len(spec.usage) for spec in REGISTRY.values()) + 2
    lines = [f"{spec.usage:<{width}}{spec.summary}" for spec in REGISTRY.values()]
    lines.append("every command also takes --json: a one-line JSON reply")
    commands = [
        {"name": name, "usage": spec.usage, "summary": spec.summary}
        for name, spec in REGISTRY.items()
    ]
    return Reply(lines, {"commands": commands})


@command("quit", "close the connection", open=True)
def quitSession(session: Session, args: list[str], flags: frozenset[str]) -> Reply:
    return Reply(data={"bye": True}, last="bye", then=session.close)
