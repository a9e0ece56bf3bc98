# -*- test-case-name: tests.worker.test_main -*-
"""The worker program: command line, start-up, exit status.

The master runs C{python -m recycler.worker --app NAME --listeners N ...} with
the fd layout of L{recycler.wire}: commands on fd 3, events on fd 4, listening
sockets on fds 5, 6, ... It exits 0 once drained, 2 on a bad command line, and
3 (after a C{failed} event) when the app cannot be loaded or served.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from collections.abc import Sequence

from twisted.internet import stdio
from twisted.internet.interfaces import IReactorThreads
from twisted.logger import Logger
from twisted.python import usage

from recycler import wire
from recycler.worker.access import openAccessLog
from recycler.worker.apps import loadApp, serverFor
from recycler.worker.errors import AppError
from recycler.worker.lifecycle import Worker
from recycler.worker.link import MasterLink, sendEvent
from recycler.worker.logs import beginLogging
from recycler.worker.sockets import adoptListeners
from recycler.worker.titles import setTitle
from recycler.worker.tls import withTLS

EXIT_USAGE = 2
"""Exit status of a worker given a bad command line."""

EXIT_APP_ERROR = 3
"""Exit status of a worker whose app cannot be loaded or served."""

MAX_TRACEBACK = 8 * 1024
"""Characters of an app's traceback sent to the master (its last ones)."""

MAX_REASON = 1024
"""Characters of the one-line reason sent to the master. With the traceback, the
event stays one line of the event pipe even if every character is escaped
(C{\\uXXXX}: 6 bytes) in its JSON."""

log = Logger()


class WorkerOptions(usage.Options):
    """Command line of a worker; the master builds it, people do not type it."""

    optParameters = [
        ["app", None, None, "The app, as package.module:name."],
        ["listeners", None, 1, "How many listening sockets start at fd 5.", int],
        ["status-interval", None, 1.0, "Seconds between status reports.", float],
        ["idle-grace", None, 1.0, "Seconds idle connections get once draining.", float],
        [
            "grace",
            None,
            30.0,
            "The master's grace: seconds before it kills a draining worker. "
            "Connections left shortly before are aborted.",
            float,
        ],
        ["threads", None, 10, "Threads serving a WSGI app.", int],
        ["nice", None, 0, "Lower the CPU priority by this much once ready.", int],
        ["tls-cert", None, None, "PEM file with the TLS certificate (and key)."],
        ["tls-key", None, None, "PEM file with the TLS private key, if not in --tls-cert."],
        ["id", None, None, "The master's id for this worker, shown in its process title.", int],
        ["access-log", None, None, "Append a line per HTTP request to this file (-: stdout)."],
    ]

    def postOptions(self) -> None:
        if not self["app"]:
            raise usage.UsageError("--app is required")


def _drainOnSigterm(reactor: IReactorThreads, worker: Worker) -> None:
    """
    SIGTERM drains like the master's command. Replaces the reactor's handler,
    which raises ReactorNotRunning when the drain command already stopped it
    (systemd sends SIGTERM to the whole control group, workers included).
    """
    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(worker.stop))


def main(argv: Sequence[str] | None = None) -> None:
    """Run a worker; exits 0 once drained, 2 on a bad command line, 3 on a bad app."""
    # Ctrl-C and Ctrl-\ reach the whole process group: only the master reacts to them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # the master sends `reopen` instead
    # The master sends SIGUSR2 to a hung worker: every thread's stack goes to stderr
    # (from C, so even a thread stuck holding the GIL), and it carries on until the
    # SIGKILL that follows. SIGABRT, gunicorn's, would also dump a core of the worker.
    faulthandler.register(signal.SIGUSR2, all_threads=True, chain=False)
    options = WorkerOptions()
    try:
        options.parseOptions(sys.argv[1:] if argv is None else argv)
    except usage.UsageError as e:
        sys.stderr.write(f"recycler worker: {e}\n")
        sys.exit(EXIT_USAGE)
    workerId = options["id"]
    setTitle("worker" if workerId is None else f"worker {workerId}", options["app"])

    from twisted.internet import reactor

    beginLogging()
    try:
        accessLog = openAccessLog(options["access-log"])
        app = serverFor(loadApp(options["app"]), reactor, options["threads"], accessLog)
        factory = withTLS(app.factory, options["tls-cert"], options["tls-key"])
    except AppError as e:
        # The master logs the reason once per crash streak, not once per attempt.
        details = {"traceback": e.traceback[-MAX_TRACEBACK:]} if e.traceback else {}
        if not sendEvent(wire.Event.FAILED, reason=str(e)[:MAX_REASON], **details):
            sys.stderr.write(f"recycler worker: {e}\n{e.traceback or ''}")
        sys.exit(EXIT_APP_ERROR)
    log.info("serving {app} ({description})", app=options["app"], description=app.description)
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
        send=sendEvent,
    )
    link = MasterLink(worker, None if accessLog is None else accessLog.reopen)
    stdio.StandardIO(link, stdin=wire.COMMAND_FD, stdout=wire.EVENT_FD)
    reactor.callWhenRunning(worker.start)
    if options["nice"]:
        # Once ready: a starting worker (nice 0) then gets the CPU before serving ones.
        reactor.callWhenRunning(os.nice, options["nice"])
    reactor.callWhenRunning(_drainOnSigterm, reactor, worker)
    reactor.run()
    sys.stdout.flush()
    sys.stderr.flush()
    # Interpreter finalisation takes 60-200 ms; nothing is left to clean up.
    os._exit(0)
