# -*- test-case-name: tests.master.test_forkserver -*-
"""The master's side of the fork server: start it, ask it for workers, notice its death.

The fork server (L{recycler.wire}) is spawned like a worker, on the same sockets,
but its fd 3 is a C{SOCK_SEQPACKET} socket. L{ForkServer.fork} sends it a
worker's ends of four new pipes (C{SCM_RIGHTS}), gets the pid back within
milliseconds, and returns a L{ForkedProcess}: the worker is the master's own
child (the master is a child subreaper), reaped as a spawned process would be.
"""

from __future__ import annotations

import array
import os
import signal
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from functools import partial
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IDelayedCall, IProcessProtocol, IProcessTransport
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import ILogObserver, Logger
from twisted.python.failure import Failure

from recycler import wire
from recycler.master.forked import ForkedProcess
from recycler.master.pipes import Lines
from recycler.master.reaping import becomeSubreaper
from recycler.master.spawn import Listeners


class ForkServerError(OSError):
    """No worker could be forked; the message says why (the pool counts a failed spawn)."""


class ForkServer(ProcessProtocol):
    """
    One fork server process (this is its protocol) and the master's end of its
    socket; it can be started again once its process has ended.

    @ivar pid: The fork server's pid while its process runs, else L{None}.
    @ivar failure: Why it last failed to start or died, if it did.
    """

    startTimeout = 60.0  # seconds to import everything (with --preload, the app too)
    replyTimeout = 5.0  # seconds the master blocks for a fork's pid (a fork takes a few ms)
    stopTimeout = 5.0  # seconds after which a fork server that did not exit on EOF is killed

    def __init__(
        self,
        reactor: Any,
        listeners: Listeners,
        executable: str,
        env: Mapping[str, str],
        preload: str | None = None,
        *,
        onGone: Callable[[str], None] | None = None,
        events: ILogObserver | None = None,
        becomeSubreaper: Callable[[], bool] = becomeSubreaper,
        adopt: Callable[..., IProcessTransport] = ForkedProcess,
    ) -> None:
        """
        @param reactor: Spawns it, runs its deadlines, reads the workers' pipes.
        @param listeners: The shared sockets, handed over at fds 5, 6, ...
        @param env: Its environment, which every forked worker inherits.
        @param preload: C{package.module:name}, whose module it imports once.
        @param onGone: Called with why if it dies once ready (not after L{stop}): respawn it.
        @param events: Where its log goes (the pool's event channel).
        """
        self.pid: int | None = None
        self.failure: str | None = None
        self.log = Logger(namespace=__name__, observer=events)
        self._reactor = reactor
        self._listeners = listeners
        self._executable = executable
        self._env = dict(env)
        self._preload = preload
        self._onGone = onGone
        self._becomeSubreaper = becomeSubreaper
        self._adopt = adopt
        self._socket: socket.socket | None = None
        self._starting: Deferred[None] | None = None
        self._stopping: list[Deferred[None]] | None = None
        self._deadline: IDelayedCall | None = None
        self._pipes = {fd: Lines(partial(self._line, fd)) for fd in (1, 2, wire.EVENT_FD)}

    @property
    def running(self) -> bool:
        """Whether it can fork now: it reported C{ready}, and is neither dead nor stopping."""
        return self._socket is not None and self._starting is None and self._stopping is None

    def argv(self) -> list[str]:
        """Its command line."""
        argv = [self._executable, "-m", wire.FORK_SERVER_MODULE, "--listeners"]
        argv.append(str(len(self._listeners.filenos())))
        return argv if self._preload is None else [*argv, "--preload", self._preload]

    def childFDs(self, socketFD: int) -> dict[int, int | str]:
        """A worker's fd layout, but C{socketFD} (its end of the socket pair) at fd 3."""
        fds: dict[int, int | str] = {0: "w", 1: "r", 2: "r", wire.EVENT_FD: "r"}
        fds[wire.FORK_SOCKET_FD] = socketFD
        return fds | dict(enumerate(self._listeners.filenos(), wire.FIRST_LISTENER_FD))

    def start(self) -> Deferred[None]:
        """
        Spawn it; fires once it has preloaded everything. Fails (L{ForkServerError})
        with the reason it reported, if it exits or is not ready in time, or if
        the master cannot become a child subreaper (not Linux 3.4+: exec workers).
        """
        if self.transport is not None:
            return fail(ForkServerError("the fork server is already started"))
        if not self._becomeSubreaper():
            self.log.warn(
                "cannot fork workers: this master cannot become a child subreaper "
                "(prctl PR_SET_CHILD_SUBREAPER, Linux 3.4+); use --spawn exec"
            )
            return fail(ForkServerError("the master cannot become a child subreaper"))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.failure = None
        try:
            fds = self.childFDs(theirs.fileno())
            self._reactor.spawnProcess(self, self._executable, self.argv(), self._env, childFDs=fds)
        except OSError as e:
            ours.close()
            return fail(ForkServerError(f"cannot start the fork server: {e}"))
        finally:
            theirs.close()
        self._socket = ours
        self._starting = Deferred()
        self._deadline = self._reactor.callLater(
            self.startTimeout, self._kill, f"not ready after {self.startTimeout}s"
        )
        self.log.info("fork server started: pid {forkServerPid}", forkServerPid=self.pid)
        return self._starting

    def stop(self) -> Deferred[None]:
        """Close its socket (it exits on EOF); fires once its process has ended."""
        if self.transport is None:
            return succeed(None)
        waiting: Deferred[None] = Deferred()
        if self._stopping is not None:
            self._stopping.append(waiting)
            return waiting
        self._stopping = [waiting]
        self._closeSocket()
        self._cancelDeadline()
        if self._starting is not None:
            self._kill("stopped before it was ready")
        else:
            self._deadline = self._reactor.callLater(self.stopTimeout, self._kill)
        return waiting

    def fork(self, protocol: IProcessProtocol, argv: Sequence[str]) -> IProcessTransport:
        """
        Fork a worker running with C{argv} (the options of C{python -m
        recycler.worker}) for C{protocol}; blocks a few ms. Returns its
        transport, a L{ForkedProcess} (C{protocol} is connected to it).

        @raise ForkServerError: if the fork server is not running, died, did not
            answer in time, or could not fork.
        """
        if not self.running:
            raise ForkServerError("the fork server is not running")
        fds: list[int] = []
        try:
            fds.extend(fd for _ in range(4) for fd in os.pipe())
        except OSError as e:
            _closeAll(fds)
            raise ForkServerError(f"cannot make a forked worker's pipes: {e}") from None
        outIn, outOut, errIn, errOut, commandIn, commandOut, eventIn, eventOut = fds
        ours = {1: (outIn, "r"), 2: (errIn, "r"), 3: (commandOut, "w"), 4: (eventIn, "r")}
        pid = None
        try:
            pid = self._request(argv, [outOut, errOut, commandIn, eventOut])
            return self._adopt(self._reactor, protocol, pid, ours)
        except BaseException as e:
            _closeAll(fd for fd, _ in ours.values())
            if pid is not None:  # forked, but not adopted: the orphan reaper collects it
                with suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            if pid is None or not isinstance(e, Exception):
                raise
            raise ForkServerError(f"cannot adopt forked worker {pid}: {e}") from e
        finally:
            _closeAll([outOut, errOut, commandIn, eventOut])

    def _request(self, argv: Sequence[str], fds: list[int]) -> int:
        """Send one fork request with the worker's C{fds}: its pid, or raise."""
        assert self._socket is not None
        request = wire.encode(wire.ForkRequest.FORK, argv=list(argv))
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        try:
            self._socket.settimeout(self.replyTimeout)
            self._socket.sendmsg([request], rights)
            reply = self._socket.recv(wire.MAX_FORK_MESSAGE)
        except TimeoutError:
            raise self._broken(f"no answer to a fork request in {self.replyTimeout}s") from None
        except OSError as e:
            raise self._broken(f"its socket failed: {e}") from None
        if not reply:
            raise self._broken("it closed its socket")
        try:
            message = wire.decode(reply)
        except ValueError:
            message = {"kind": None}
        pid = message.get("pid")
        if message["kind"] == wire.ForkReply.FORKED and isinstance(pid, int) and pid > 0:
            return pid
        if message["kind"] == wire.ForkReply.ERROR:
            raise ForkServerError(f"the fork server could not fork: {message.get('reason')}")
        raise self._broken(f"it answered {reply[:80]!r}")

    def _broken(self, why: str) -> ForkServerError:
        """It cannot be trusted with another request: kill it (L{onGone} follows)."""
        self.failure = why
        self.log.error("fork server {forkServerPid} broken: {why}", forkServerPid=self.pid, why=why)
        self._closeSocket()
        self._kill()
        return ForkServerError(f"the fork server is broken: {why}")

    def connectionMade(self) -> None:
        self.pid = self.transport.pid
        self.transport.closeStdin()

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        pipe = self._pipes.get(childFD)
        if pipe is not None:
            pipe.dataReceived(data)

    def processEnded(self, reason: Failure) -> None:
        for pipe in self._pipes.values():
            pipe.flush()
        status = _describe(reason.value)
        self._closeSocket()
        self._cancelDeadline()
        self.transport = self.pid = None
        starting, self._starting = self._starting, None
        stopping, self._stopping = self._stopping, None
        if starting is not None:
            self.failure = self.failure or f"it exited before it was ready ({status})"
            self.log.error("fork server failed to start: {why}", why=self.failure)
            starting.errback(ForkServerError(f"the fork server failed to start: {self.failure}"))
        elif stopping is None:
            self.failure = f"{self.failure}; {status}" if self.failure else status
            self.log.warn("fork server exited: {why}", why=self.failure)
            if self._onGone is not None:
                self._onGone(self.failure)
        for waiting in stopping or ():
            waiting.callback(None)

    def _line(self, childFD: int, line: bytes) -> None:
        """One line of its stdout or stderr (relayed to the log), or an event."""
        if childFD != wire.EVENT_FD:
            stream, text = ("stdout" if childFD == 1 else "stderr"), line.decode(errors="replace")
            self.log.info("[fork server] {line}", line=text, stream=stream, forkServerPid=self.pid)
            return
        try:
            message = wire.decode(line)
        except ValueError:
            self.log.warn("fork server sent a malformed event: {line!r}", line=line[:200])
            return
        if message["kind"] == wire.Event.READY and self._starting is not None:
            starting, self._starting = self._starting, None
            self._cancelDeadline()
            self.log.info("fork server ready: pid {forkServerPid}", forkServerPid=self.pid)
            starting.callback(None)
        elif message["kind"] == wire.Event.FAILED:
            self.failure = str(message.get("reason"))

    def _kill(self, why: str | None = None) -> None:
        self.failure = why or self.failure
        if self.transport is not None:
            with suppress(ProcessExitedAlready, OSError):  # processEnded is on its way
                self.transport.signalProcess("KILL")

    def _closeSocket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _cancelDeadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None


def _describe(ended: BaseException) -> str:
    number = getattr(ended, "signal", None)
    return f"signal {number}" if number else f"exit code {getattr(ended, 'exitCode', None)}"


def _closeAll(fds: Iterable[int]) -> None:
    for fd in fds:
        with suppress(OSError):
            os.close(fd)
