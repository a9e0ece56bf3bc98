"""A worker process: adopts the shared sockets, serves the app, drains when asked.

The master runs C{python -m recycler.worker --app NAME --listeners N} with the
fd layout of L{recycler.messages}: commands arrive on fd 3 (EOF there means the
master is gone), events leave on fd 4, listening sockets are fds 5, 6, ...
Every way to stop (the master's C{drain} command, SIGTERM, the master's death)
goes through the reactor's "before shutdown" trigger, which drains gracefully.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence

from twisted.internet import stdio
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocolFactory,
    IReactorCore,
    IReactorSocket,
    IReactorThreads,
)
from twisted.internet.task import LoopingCall
from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    eventAsText,
    globalLogBeginner,
)
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python import usage

from recycler import wire
from recycler.worker.apps import AppError, loadApp, serverFor
from recycler.worker.drain.http import Drainable

EXIT_APP_ERROR = 3
"""Exit status of a worker whose app cannot be loaded or served."""


class WorkerOptions(usage.Options):
    """Command line of a worker; the master builds it, people do not type it."""

    optParameters = [
        ["app", None, None, "The app, as package.module:name."],
        ["listeners", None, 1, "How many listening sockets start at fd 5.", int],
        ["status-interval", None, 1.0, "Seconds between status reports.", float],
        ["idle-grace", None, 1.0, "Seconds idle connections get once draining.", float],
        ["grace", None, 30.0, "Seconds before connections left are aborted.", float],
        ["threads", None, 10, "Threads serving a WSGI app.", int],
        ["tls-cert", None, None, "PEM file with the TLS certificate (and key)."],
        ["tls-key", None, None, "PEM file with the TLS private key, if not in --tls-cert."],
    ]

    def postOptions(self) -> None:
        if not self["app"]:
            raise usage.UsageError("--app is required")


def sendEvent(kind: str, **fields: object) -> bool:
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

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def lineReceived(self, line: bytes) -> None:
        try:
            kind = wire.decode(line)["kind"]
        except ValueError:
            Worker.log.warn("ignoring a malformed command: {line!r}", line=line[:200])
            return
        if kind == "drain":
            self.worker.stop()

    def connectionLost(self, reason: object = None) -> None:
        self.worker.masterGone()


class Worker:
    """
    Serves one app on adopted ports until asked to stop, then drains.

    @ivar server: The drainable factory serving the app.
    @ivar ports: The adopted listening ports.
    """

    log = Logger()

    def __init__(
        self,
        reactor: IReactorCore,
        server: Drainable,
        ports: Sequence[IListeningPort],
        idleGrace: float,
        grace: float,
        statusInterval: float,
        send: Callable[..., object] = sendEvent,
    ) -> None:
        self._reactor = reactor
        self.server = server
        self.ports = list(ports)
        self._idleGrace = idleGrace
        self._grace = grace
        self._send = send
        self._stopping = False
        self._listening = True
        self._status = LoopingCall(self.reportStatus)
        self._status.clock = reactor
        self._statusInterval = statusInterval

    def start(self) -> None:
        """Report ready and start the periodic status reports."""
        self._reactor.addSystemEventTrigger("before", "shutdown", self._drain)
        self._send("ready", pid=os.getpid())
        self._status.start(self._statusInterval, now=False)

    def reportStatus(self) -> None:
        """Tell the master how many requests were served and are in flight."""
        self._send("status", served=self.server.served, inFlight=self.server.inFlight)

    def stop(self) -> None:
        """Drain and exit (through the reactor's shutdown)."""
        if not self._stopping:
            self._stopping = True
            self._reactor.stop()

    def masterGone(self) -> None:
        """The master died: release the port at once so a new master can bind it, then drain."""
        if not self._stopping:
            self.log.warn("master is gone; draining and exiting")
        self._stopListening()
        self.stop()

    def _drain(self) -> Deferred[object]:
        self._stopping = True
        for port in self.ports:
            port.stopReading()
        drained = self.server.drain(self._idleGrace, self._grace)
        drained.addCallback(lambda _: self._stopListening())
        drained.addCallback(self._finished)
        return drained

    def _stopListening(self) -> Deferred[object]:
        if not self._listening:
            return succeed(None)
        self._listening = False
        return DeferredList([port.stopListening() for port in self.ports])

    def _finished(self, _: object) -> None:
        if self._status.running:
            self._status.stop()
        self.reportStatus()


def adoptListeners(
    reactor: IReactorSocket, count: int, factory: IProtocolFactory
) -> list[IListeningPort]:
    """Adopt the C{count} listening sockets the master passed from fd 5 on."""
    ports = []
    for offset in range(count):
        sock = socket.socket(fileno=wire.FIRST_LISTENER_FD + offset)
        try:
            port = reactor.adoptStreamPort(sock.fileno(), sock.family, factory)
        finally:
            sock.close()
        acceptOnePerWakeup(port)
        ports.append(port)
    return ports


def acceptOnePerWakeup(port: IListeningPort) -> None:
    """
    Make C{port} accept one connection each time the socket is readable.

    Every worker polls the same socket and the kernel wakes them all; Twisted
    accepts up to 100 connections per wake-up (adaptively), so the first worker
    to run takes a whole burst. One accept per wake-up spreads a burst over the
    workers (docs/benchmarks.md has the measured split). C{numberAccepts} is
    reset by every C{doRead}, so it is pinned before each call.
    """
    if not hasattr(port, "numberAccepts"):
        return
    doRead = port.doRead

    def doReadOne() -> object:
        port.numberAccepts = 1
        return doRead()

    port.doRead = doReadOne


def _beginLogging() -> None:
    """
    Log to stdout without timestamps: the master relays each line with its own.
    Twisted's chatter through the legacy log ("Starting factory", "Port
    closed") is kept out unless it is a warning or worse.
    """

    def format(event: dict) -> str:
        return eventAsText(event, includeTimestamp=False, includeSystem=False) + "\n"

    levels = LogLevelFilterPredicate(LogLevel.info)
    levels.setLogLevelForNamespace("log_legacy", LogLevel.warn)
    levels.setLogLevelForNamespace("twisted", LogLevel.warn)
    observer = FilteringLogObserver(FileLogObserver(sys.stdout, format), [levels])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def withTLS(factory: IProtocolFactory, cert: str | None, key: str | None) -> IProtocolFactory:
    """Wrap C{factory} in TLS with the PEM certificate and key, if a certificate is given."""
    if cert is None:
        return factory
    try:
        from twisted.internet.ssl import PrivateCertificate
        from twisted.protocols.tls import TLSMemoryBIOFactory
    except ImportError as e:
        raise AppError(f"TLS needs pyOpenSSL: pip install 'recycler[tls]' ({e})") from e
    try:
        with open(cert, "rb") as f:
            pem = f.read()
        if key is not None:
            with open(key, "rb") as f:
                pem += b"\n" + f.read()
        options = PrivateCertificate.loadPEM(pem).options()
    except Exception as e:
        raise AppError(f"cannot load the TLS certificate: {type(e).__name__}: {e}") from e
    return TLSMemoryBIOFactory(options, False, factory)


def _drainOnSigterm(reactor: IReactorThreads, worker: Worker) -> None:
    """
    SIGTERM drains like the master's command. Replaces the reactor's handler,
    which raises ReactorNotRunning when the drain command already stopped it
    (systemd sends SIGTERM to the whole control group, workers included).
    """
    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(worker.stop))


def main(argv: Sequence[str] | None = None) -> None:
    """Run a worker; exits 0 once drained, 2 on a bad command line, 3 on a bad app."""
    # Ctrl-C reaches the whole process group: only the master reacts to it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    options = WorkerOptions()
    try:
        options.parseOptions(sys.argv[1:] if argv is None else argv)
    except usage.UsageError as e:
        sys.stderr.write(f"recycler worker: {e}\n")
        sys.exit(2)

    from twisted.internet import reactor

    _beginLogging()
    try:
        app = serverFor(loadApp(options["app"]), reactor, options["threads"])
        factory = withTLS(app.factory, options["tls-cert"], options["tls-key"])
    except AppError as e:
        # The master logs the reason once per crash streak, not once per attempt.
        if not sendEvent("failed", reason=str(e)):
            sys.stderr.write(f"recycler worker: {e}\n")
        sys.exit(EXIT_APP_ERROR)
    Worker.log.info(
        "serving {app} ({description})", app=options["app"], description=app.description
    )
    if app.threadPool is not None:
        app.threadPool.start()
        reactor.addSystemEventTrigger("during", "shutdown", app.threadPool.stop)
    worker = Worker(
        reactor,
        app.factory,
        adoptListeners(reactor, options["listeners"], factory),
        idleGrace=options["idle-grace"],
        grace=options["grace"],
        statusInterval=options["status-interval"],
    )
    stdio.StandardIO(MasterLink(worker), stdin=wire.COMMAND_FD, stdout=wire.EVENT_FD)
    reactor.callWhenRunning(worker.start)
    reactor.callWhenRunning(_drainOnSigterm, reactor, worker)
    reactor.run()
    sys.stdout.flush()
    sys.stderr.flush()
    # Interpreter finalisation takes 60-200 ms; nothing is left to clean up.
    os._exit(0)
