"""Command line of C{twistd recycler}: options, validation, and the service they build."""

from __future__ import annotations

import os
import sys

from twisted.application.service import IService
from twisted.python import usage

from recycler.apps import AppError, splitAppName
from recycler.listeners import SharedListeners, checkDescription
from recycler.policy import TTLRange
from recycler.pool import WorkerCommand, WorkerPool
from recycler.service import RecyclerService


def _positiveInt(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _positiveFloat(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise ValueError(f"must be a positive number of seconds, got {text}")
    return value


_positiveInt.coerceDoc = "Must be at least 1."  # type: ignore[attr-defined]
_positiveFloat.coerceDoc = "Seconds, greater than 0."  # type: ignore[attr-defined]


class Options(usage.Options):
    """Options of C{twistd recycler}; with none, it serves the Node.js cluster demo."""

    synopsis = "[options]"
    longdesc = (
        "Runs a master that binds the listening socket once and keeps a pool of "
        "worker processes serving it. Each worker lives for a random time-to-live, "
        "then drains gracefully (finishes its requests, closes its connections) and "
        "is replaced, without a single request failing."
    )

    optParameters = [
        [
            "listen",
            "l",
            "tcp:10080",
            "Endpoint to serve on (tcp or tcp6; backlog defaults to 1024).",
        ],
        ["workers", "w", 4, "Number of worker processes.", _positiveInt],
        ["ttl", None, "0:5", "Worker lifetime MIN:MAX in seconds, drawn per worker, or 'off'."],
        ["grace", None, 30.0, "Seconds a draining worker gets before SIGKILL.", _positiveFloat],
        ["app", None, "recycler.demo:resource", "The app each worker serves (module:name)."],
    ]

    def postOptions(self) -> None:
        from twisted.internet import reactor

        try:
            checkDescription(reactor, self["listen"])
        except ValueError as e:
            raise usage.UsageError(f"--listen: {e}") from None
        try:
            self["ttl"] = TTLRange.parse(self["ttl"])
        except ValueError as e:
            raise usage.UsageError(f"--ttl: {e}") from None
        try:
            splitAppName(self["app"])
        except AppError as e:
            raise usage.UsageError(f"--app: {e}") from None


def workerCommand(options: Options, listenerFDs: list[int]) -> WorkerCommand:
    """The command line and environment each worker starts with."""
    args = [
        sys.executable,
        "-m",
        "recycler.worker",
        "--app",
        options["app"],
        "--listeners",
        str(len(listenerFDs)),
        "--grace",
        # Abort leftover connections shortly before the master's SIGKILL.
        str(max(options["grace"] - 1, options["grace"] / 2)),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return WorkerCommand(sys.executable, args, env, listenerFDs)


def makeService(options: Options) -> IService:
    """Build the master service from parsed options."""
    from twisted.internet import reactor

    def makePool(listenerFDs: list[int]) -> WorkerPool:
        return WorkerPool(
            reactor,
            workerCommand(options, listenerFDs),
            target=options["workers"],
            ttl=options["ttl"],
            grace=options["grace"],
        )

    return RecyclerService(reactor, SharedListeners(reactor, [options["listen"]]), makePool)
