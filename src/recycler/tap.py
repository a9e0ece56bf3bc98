# -*- test-case-name: tests.test_tap -*-
"""Command line of C{twistd recycler}: options, validation, and the service they build."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

import attrs
from twisted.application.service import IService
from twisted.internet import endpoints
from twisted.internet.protocol import ServerFactory
from twisted.python import usage

from recycler.admin.http import monitoringSite
from recycler.admin.protocol import AdminFactory
from recycler.admin.token import checkToken
from recycler.coerce import (
    countOrOff,
    namingErrors,
    niceIncrement,
    nonNegativeInt,
    onOff,
    positiveFloat,
    positiveInt,
    secondsOrOff,
    sizeOrOff,
    spawnMode,
)
from recycler.logs import accessLogPath
from recycler.master.forking import ForkServers
from recycler.master.forkserver import ForkServer
from recycler.master.listeners import SharedListeners, checkDescription
from recycler.master.notify import NOTIFY_VARIABLES, systemdNotifier
from recycler.master.policy import TTLRange
from recycler.master.pool import PoolConfig, WorkerPool
from recycler.master.service import RecyclerService
from recycler.master.spawn import Listeners, WorkerCommand
from recycler.master.triggers import TriggerConfig
from recycler.settings import ENVIRONMENT, parseLayered
from recycler.wire import splitAppName
from recycler.worker.errors import AppError
from recycler.worker.titles import setTitle
from recycler.worker.tls import withTLS

DEFAULT_LISTEN = "tcp:10080"
"""The port of the Node.js cluster example."""

STATUS_INTERVAL = 1.0
"""Seconds between worker status reports, which double as heartbeats."""


class Options(usage.Options):
    """Options of C{twistd recycler}; with none, it serves the Node.js cluster demo."""

    synopsis = "[options]"
    longdesc = (
        "Runs a master that binds the listening socket once and keeps a pool of "
        "worker processes serving it. Each worker lives for a random time-to-live, "
        "then drains gracefully (finishes its requests, closes its connections) and "
        "is replaced, without a single request failing."
    )

    optFlags = [
        ["preload", None, "Import the app once in the fork server (--spawn fork), not per worker."],
        [
            "admin-insecure",
            None,
            "Allow an --admin endpoint other hosts can reach without --admin-token.",
        ],
        ["check-config", None, "Check the settings, print the effective ones and exit."],
    ]

    optParameters = [
        ["config", None, None, "Read settings from this TOML file (keys: long option names)."],
        ["workers", "w", 4, "Number of worker processes.", positiveInt],
        ["ttl", None, "0:5", "Worker lifetime MIN:MAX in seconds, drawn per worker, or 'off'."],
        ["grace", None, 30.0, "Seconds a draining worker gets before SIGKILL.", positiveFloat],
        ["app", None, "recycler.demo:resource", "The app each worker serves (module:name)."],
        [
            "threads",
            None,
            0,
            "Threads per worker serving a WSGI app; 0: in the reactor thread.",
            nonNegativeInt,
        ],
        ["tls-cert", None, None, "Serve TLS with this PEM certificate (and key)."],
        ["tls-key", None, None, "PEM private key, if not in --tls-cert."],
        [
            "access-log",
            None,
            None,
            "Every worker appends a line per HTTP request (combined log format) here (off)",
            accessLogPath,
        ],
        [
            "spawn",
            None,
            "fork",
            "fork: fork workers from a pre-imported fork server; exec: a fresh interpreter each.",
            spawnMode,
        ],
        [
            "overlap",
            None,
            True,
            "on: a recycled worker drains only once its replacement is ready.",
            onOff,
        ],
        ["max-draining", None, 1, "Recycles waiting for their replacement at once.", positiveInt],
        [
            "worker-nice",
            None,
            0,
            "Ready workers lower their CPU priority by N, so starting ones get the CPU first.",
            niceIncrement,
        ],
        ["max-requests", None, None, "Recycle a worker after N requests (off).", countOrOff],
        [
            "max-requests-jitter",
            None,
            0,
            "Add 0..J (random per worker) to --max-requests.",
            nonNegativeInt,
        ],
        ["max-rss", None, None, "Recycle a worker whose memory (RSS) exceeds this", sizeOrOff],
        ["timeout", None, 30.0, "Kill a worker silent (hung) for this long.", secondsOrOff],
        ["boot-timeout", None, 60.0, "Kill a worker not ready after this long.", secondsOrOff],
        [
            "admin",
            None,
            "tcp:10081:interface=127.0.0.1",
            "Admin port endpoint (tcp or unix:PATH), or 'none'.",
        ],
        ["admin-token", None, None, "Clients must send 'auth TOKEN' before any command."],
        ["admin-token-file", None, None, "Read the admin token from this file."],
        [
            "metrics",
            None,
            None,
            "Serve /metrics (Prometheus), /healthz and /readyz over HTTP on this endpoint (off).",
        ],
    ]
    optParameters = namingErrors(optParameters)

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        """Command line > $RECYCLER_CMD_ARGS > --config file > defaults: L{recycler.settings}."""
        argv = sys.argv[1:] if options is None else options
        parseLayered(self, argv, os.environ, super().parseOptions, repeatable=["listen"])

    def opt_listen(self, description: str) -> None:
        """
        Endpoint to serve on: tcp:PORT[:interface=ADDR], tcp6:..., or
        systemd:domain=INET:index=N; repeat for several (default tcp:10080).
        The backlog defaults to 1024.
        """
        self["listen"].append(description)

    opt_l = opt_listen

    def postOptions(self) -> None:
        from twisted.internet import reactor

        self["listen"] = self["listen"] or [DEFAULT_LISTEN]
        if self["timeout"] is not None and self["timeout"] < 2 * STATUS_INTERVAL:
            raise usage.UsageError(
                f"--timeout: workers report every {STATUS_INTERVAL:g}s; "
                f"use at least {2 * STATUS_INTERVAL:g}s, or off"
            )
        for description in self["listen"]:
            try:
                checkDescription(reactor, description)
            except ValueError as e:
                raise usage.UsageError(f"--listen: {e}") from None
        self._checkTLS()
        if self["preload"] and self["spawn"] != "fork":
            raise usage.UsageError("--preload needs --spawn fork (exec'd workers import the app)")
        try:
            self["ttl"] = TTLRange.parse(self["ttl"])
        except ValueError as e:
            raise usage.UsageError(f"--ttl: {e}") from None
        try:
            splitAppName(self["app"])
        except ValueError as e:
            raise usage.UsageError(f"--app: {e}") from None
        self._checkAdmin(reactor)
        self._checkMetrics(reactor)

    def _checkTLS(self) -> None:
        if self["tls-key"] and not self["tls-cert"]:
            raise usage.UsageError("--tls-key needs --tls-cert")
        if self["tls-cert"]:
            try:
                withTLS(ServerFactory(), self["tls-cert"], self["tls-key"])
            except AppError as e:
                raise usage.UsageError(f"--tls-cert: {e}") from None

    def _checkAdmin(self, reactor: object) -> None:
        from recycler.admin.token import reachableFromOtherHosts

        endpoint = None
        if self["admin"].strip().lower() == "none":
            self["admin"] = None
        else:
            try:
                endpoint = endpoints.serverFromString(reactor, self["admin"])
            except (ValueError, TypeError, KeyError) as e:
                raise usage.UsageError(f"--admin: {self['admin']!r} is not valid: {e}") from None
        if self["admin-token-file"]:
            if self["admin-token"]:
                raise usage.UsageError("give --admin-token or --admin-token-file, not both")
            try:
                with open(self["admin-token-file"]) as f:
                    self["admin-token"] = f.read().strip()
            except OSError as e:
                raise usage.UsageError(f"--admin-token-file: {e}") from None
        try:
            checkToken(self["admin-token"])
        except ValueError as e:
            raise usage.UsageError(f"--admin-token: {e}") from None
        exposed = endpoint is not None and reachableFromOtherHosts(endpoint)
        if exposed and not (self["admin-token"] or self["admin-insecure"]):
            raise usage.UsageError(
                f"--admin: {self['admin']!r} takes clients from other hosts, without a token;"
                " use tcp:PORT:interface=127.0.0.1 or unix:PATH, set --admin-token(-file),"
                " or pass --admin-insecure"
            )

    def _checkMetrics(self, reactor: object) -> None:
        if self["metrics"] is None or self["metrics"].strip().lower() == "none":
            self["metrics"] = None
            return
        try:
            endpoints.serverFromString(reactor, self["metrics"])
        except (ValueError, TypeError, KeyError) as e:
            raise usage.UsageError(f"--metrics: {self['metrics']!r} is not valid: {e}") from None


def workerCommand(options: Options, listeners: Listeners) -> WorkerCommand:
    """The command line and environment each worker starts with, on C{listeners}."""
    args = [
        "--app",
        options["app"],
        "--grace",
        str(options["grace"]),
        "--status-interval",
        str(STATUS_INTERVAL),
        "--threads",
        str(options["threads"]),
        "--nice",
        str(options["worker-nice"]),
    ]
    for name in ("tls-cert", "tls-key"):
        if options[name]:
            args += [f"--{name}", os.path.abspath(options[name])]
    if options["access-log"]:
        args += ["--access-log", options["access-log"]]
    # Only the master may notify systemd; the master's own arguments (a token, say)
    # are not the app's to see.
    masterOnly = {*NOTIFY_VARIABLES, ENVIRONMENT}
    env = {name: value for name, value in os.environ.items() if name not in masterOnly}
    env["PYTHONUNBUFFERED"] = "1"
    return WorkerCommand(sys.executable, args, env, listeners)


def poolConfig(options: Options) -> PoolConfig:
    """The pool's recycling policy, from the options."""
    return PoolConfig(
        target=options["workers"],
        grace=options["grace"],
        overlap=options["overlap"],
        maxDraining=options["max-draining"],
        triggers=TriggerConfig(
            ttl=options["ttl"],
            maxRequests=options["max-requests"],
            maxRequestsJitter=options["max-requests-jitter"],
            maxRss=options["max-rss"],
            heartbeatTimeout=options["timeout"],
            bootTimeout=options["boot-timeout"],
        ),
    )


def makeService(options: Options) -> IService:
    """Build the master service from parsed options."""
    from twisted.internet import reactor

    listeners = SharedListeners(reactor, options["listen"])
    command = workerCommand(options, listeners)
    forkServers = None
    if options["spawn"] == "fork":
        preload = options["app"] if options["preload"] else None
        executable, env = command.executable, command.env

        def makeForkServer(onGone: Callable[[str], None]) -> ForkServer:
            return ForkServer(reactor, listeners, executable, env, preload, onGone=onGone)

        forkServers = ForkServers(reactor, makeForkServer)
        command = attrs.evolve(command, forker=forkServers)
    prepareReload = None if forkServers is None else forkServers.replace
    notifier = systemdNotifier(reactor, os.environ, os.getpid())
    if notifier is not None:
        prepareReload = notifier.announcingReload(prepareReload)
    pool = WorkerPool(reactor, command, poolConfig(options), prepareReload=prepareReload)
    admin = None
    if options["admin"] is not None:
        admin = (options["admin"], AdminFactory(pool, reactor, token=options["admin-token"]))
    metrics = None
    if options["metrics"] is not None:
        metrics = (options["metrics"], monitoringSite(pool.stats, reactor))
    service = RecyclerService(
        reactor, listeners, pool, admin, forkServers=forkServers, metrics=metrics, notifier=notifier
    )
    setTitle("master", options["app"])
    return service
