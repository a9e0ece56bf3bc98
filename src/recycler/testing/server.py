# -*- test-case-name: tests.test_end_to_end -*-
"""A real master in a subprocess, for end-to-end tests and benchmarks.

The server runs as C{python -m twisted --log-format=json recycler ...} (or as
C{twistd --logfile PATH recycler ...}, logging text to PATH, or as C{twistd
--logger NAME recycler ...}); callers wait on its structured log events (with
deadlines), and L{Server.kill} takes down its whole process group.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
"""One structured log event of the master, as JSON gives it."""


class Server:
    """
    One running master (and its workers), started in its own session so that
    L{kill} can always take down the whole process group.
    """

    def __init__(
        self,
        *args: str,
        listen: str = "tcp:0:interface=127.0.0.1",
        admin: str = "tcp:0:interface=127.0.0.1",
        inheritSocket: socket.socket | None = None,
        logFile: str | None = None,
        logger: str | None = None,
    ) -> None:
        """
        @param inheritSocket: Hand this listening socket to the master as systemd
            socket activation does (fd 3, C{LISTEN_FDS}, C{LISTEN_FDNAMES},
            C{LISTEN_PID}).
        @param logFile: Run C{twistd -n --logfile LOGFILE} instead, which logs
            text to that file: no events to wait on then.
        @param logger: Run C{twistd -n --logger LOGGER} instead, logging to
            standard output with that observer factory (events are read from
            its lines if they are JSON, as L{recycler.logs.jsonLinesObserver}'s).
        """
        runner = ["-m", "twisted", "--log-format=json", "--log-file=-"]
        twistd = "from twisted.scripts.twistd import run; run()"
        if logFile is not None:
            runner = ["-c", twistd, "-n", "--pidfile=", "--logfile", logFile]
        if logger is not None:
            runner = ["-c", twistd, "-n", "--pidfile=", "--logger", logger]
        self.argv = [
            sys.executable, *runner, "recycler", "--listen", listen, "--admin", admin, *args,
        ]  # fmt: skip
        command, passFDs = self.argv, ()
        if inheritSocket is not None:
            fd = inheritSocket.fileno()
            # exec keeps the pid, so LISTEN_PID names the master, as systemd's does.
            script = (
                f"import os, sys; os.dup2({fd}, 3); os.close({fd}); "
                "os.environ.update(LISTEN_FDS='1', LISTEN_FDNAMES='http', "
                "LISTEN_PID=str(os.getpid())); "
                "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
            )
            command, passFDs = [sys.executable, "-c", script, *self.argv[1:]], (fd,)
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=passFDs,
        )
        self.events: list[Event] = []
        self.rawOutput = bytearray()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        # jsonFileLogObserver writes each event as "\x1e" + JSON + "\n".
        buffer = b""
        for chunk in iter(lambda: self.process.stdout.read1(65536), b""):
            with self._changed:
                self.rawOutput += chunk
                *lines, buffer = (buffer + chunk).split(b"\n")
                self.events.extend(_parseEvents(lines))
                self._changed.notify_all()
        with self._changed:
            self.events.extend(_parseEvents([buffer]))
            self._changed.notify_all()

    def waitFor(self, predicate: Callable[[list[Event]], Any], timeout: float = 15) -> Any:
        """Block until C{predicate(events)} is truthy; return its value, or fail at the deadline."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (result := predicate(self.events)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s; output:\n{self.output()[-4000:]}"
                    )
                self._changed.wait(min(remaining, 0.1))
            return result

    def output(self) -> str:
        return self.rawOutput.decode("utf-8", "replace")

    def eventsOf(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.get("event") == kind]

    def waitReady(self, count: int, timeout: float = 20) -> None:
        """Wait until C{count} workers reported ready."""
        self.waitFor(lambda events: len(self.eventsOf("ready")) >= count, timeout)

    @property
    def port(self) -> int:
        return self.ports()[0]

    def ports(self, count: int = 1) -> list[int]:
        """The ports of the first C{count} listening sockets, in --listen order."""

        def found(events: list[Event]) -> list[int] | None:
            ports = [e["port"] for e in self.eventsOf("listening")]
            return ports if len(ports) >= count else None

        return self.waitFor(found)

    @property
    def adminPort(self) -> int:
        return self.waitFor(lambda events: [e["port"] for e in self.eventsOf("admin-listening")])[0]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def workerPids(self) -> set[int]:
        """Pids of every worker ever born."""
        return {e["pid"] for e in self.eventsOf("born")}

    def liveWorkerPids(self) -> set[int]:
        exited = {e["pid"] for e in self.eventsOf("exited")}
        return self.workerPids() - exited

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 40) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        """Kill the master and every process of its group; always safe to call."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self._reader.join(5)


def _parseEvents(lines: list[bytes]) -> list[Event]:
    events = []
    for line in lines:
        try:
            events.append(json.loads(line.lstrip(b"\x1e")))
        except ValueError:
            pass  # not a JSON event: plain output, kept in rawOutput
    return events
