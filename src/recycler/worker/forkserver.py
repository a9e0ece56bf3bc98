# -*- test-case-name: tests.worker.test_forkserver -*-
"""The fork server: imports the worker runtime once, then forks workers on request.

C{python -m recycler.worker.forkserver --listeners N [--preload APP]} has the
layout of L{recycler.wire}: fd 3 its end of a C{SOCK_SEQPACKET} socket pair
(requests in, replies out; EOF: the master is gone), fd 4 its events (C{ready},
or C{failed} then exit 3), fds 5, 6, ... the listening sockets.

It imports the epoll reactor module and the worker runtime (with C{--preload},
the app's module too) but never installs a reactor (every worker would share
its epoll instance) nor starts a thread. Without a reactor, it forks an
intermediate that forks the worker and exits; it reaps the intermediate (the
worker is then re-parented to the master, its subreaper) and answers the pid.
The worker gets the request's four fds at fds 1-4, C{/dev/null} at fd 0, no
other fd above the listeners, default signal dispositions and a new C{random}
seed, and runs L{recycler.worker.main.main} as C{python -m recycler.worker}
would; it leaves with C{os._exit}.
"""

from __future__ import annotations

import argparse
import array
import fcntl
import json
import os
import random
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import NoReturn

from recycler import wire
from recycler.worker.titles import setTitle

EXIT_PRELOAD_FAILED = 3
"""Exit status (after a C{failed} event) when the runtime or the app cannot be preloaded."""

RESET_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
"""Signals a forked worker starts with at their default disposition (SIGINT is ignored)."""

_FD_COUNT = len(wire.FORKED_FDS)


class PreloadError(Exception):
    """What was preloaded cannot be forked from, or failed to import; the message says why."""


def preload(appName: str | None) -> None:
    """
    Import what every worker needs (and the module of C{appName}, if given),
    without installing a reactor or starting a thread.

    @raise PreloadError: if the app cannot be imported, or if importing it
        installed the reactor or started a thread.
    """
    # Not installed: an installed reactor would be shared by every worker.
    try:
        import twisted.internet.epollreactor
    except ImportError:  # not Linux: the worker's default reactor is imported after fork
        pass
    import twisted.internet.default  # noqa: F401

    import recycler.worker.main  # noqa: F401
    from recycler.worker.apps import loadApp
    from recycler.worker.errors import AppError

    if appName is not None:
        try:
            loadApp(appName)
        except AppError as e:
            raise PreloadError(str(e)) from None
    what = "the worker runtime" if appName is None else repr(appName)
    advice = "run without --preload" if appName is not None else "this is a bug in recycler"
    if "twisted.internet.reactor" in sys.modules:
        raise PreloadError(
            f"{what} cannot be preloaded: it installs the reactor at import time; {advice}"
        )
    threads = threadCount()
    if threads != 1:
        raise PreloadError(
            f"{what} cannot be preloaded: it starts threads at import time "
            f"({threads} threads, which a forked worker would not have); {advice}"
        )


def threadCount() -> int:
    """The process's threads, native ones included (Python's count where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def serve(server: socket.socket, listeners: int) -> None:
    """Answer fork requests on C{server} until EOF (the master is gone)."""
    fdSize = _FD_COUNT * array.array("i").itemsize
    while True:
        try:
            data, ancdata, flags, _ = server.recvmsg(
                wire.MAX_FORK_MESSAGE, socket.CMSG_SPACE(fdSize), socket.MSG_CMSG_CLOEXEC
            )
        except (ConnectionResetError, BrokenPipeError):
            return
        fds = [
            fd
            for level, kind, cdata in ancdata
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
            for fd in _ints(cdata)
        ]
        if not data and not fds:
            return
        try:
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                reply = wire.encode(wire.ForkReply.ERROR, reason="request truncated")
            else:
                reply = answer(server, data, fds, listeners)
        finally:
            for fd in fds:
                os.close(fd)
        try:
            server.send(reply)
        except OSError:
            return


def answer(server: socket.socket, data: bytes, fds: Sequence[int], listeners: int) -> bytes:
    """The reply to one request: fork a worker, or say why not."""
    try:
        request = wire.decode(data)
        if request["kind"] != wire.ForkRequest.FORK:
            raise ValueError(f"unknown request {request['kind']!r}")
        argv = request.get("argv")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise ValueError("argv must be a list of strings")
        if len(fds) != _FD_COUNT:
            raise ValueError(f"expected {_FD_COUNT} fds, got {len(fds)}")
    except (ValueError, UnicodeDecodeError) as e:
        return wire.encode(wire.ForkReply.ERROR, reason=f"bad request: {e}")
    try:
        pid = forkWorker(server, argv, fds, listeners)
    except (OSError, ValueError) as e:
        return wire.encode(wire.ForkReply.ERROR, reason=f"cannot fork: {e}")
    return wire.encode(wire.ForkReply.FORKED, pid=pid)


def forkWorker(server: socket.socket, argv: list[str], fds: Sequence[int], listeners: int) -> int:
    """
    Fork a worker through an intermediate process, and return its pid once the
    intermediate is reaped (the worker is then the child of our parent's
    subreaper; learning the pid earlier races with the re-parenting).

    @raise OSError: if a fork failed.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # else what is buffered would be written again by the child
    pidIn, pidOut = os.pipe()
    try:
        intermediate = os.fork()
        if intermediate == 0:
            _intermediate(pidOut, server, argv, fds, listeners)
        os.close(pidOut)
        pidOut = -1
        _, status = os.waitpid(intermediate, 0)
        told = os.read(pidIn, 256)
    finally:
        os.close(pidIn)
        if pidOut >= 0:
            os.close(pidOut)
    message = json.loads(told) if told else {"error": f"the intermediate died: {status:#x}"}
    if "error" in message:
        raise OSError(message.get("errno", 0), message["error"])
    return int(message["pid"])


def _intermediate(
    pidOut: int, server: socket.socket, argv: list[str], fds: Sequence[int], listeners: int
) -> NoReturn:
    """Fork the worker, tell its pid, exit (never return into the fork server's loop)."""
    status = 1
    try:
        try:
            pid = os.fork()
        except OSError as e:
            told: dict[str, object] = {"error": e.strerror, "errno": e.errno}
        else:
            if pid == 0:
                runWorker(server, argv, fds, listeners)
            told = {"pid": pid}
            status = 0
        os.write(pidOut, json.dumps(told).encode())
    finally:
        os._exit(status)


def becomeWorker(server: socket.socket, fds: Sequence[int], listeners: int) -> None:
    """
    In a forked child: the fd layout, signal dispositions and seed of a fresh
    worker. C{fds} become fds 1-4 (L{wire.FORKED_FDS}), C{/dev/null} fd 0; the
    listening sockets stay at fds 5 to 4 + C{listeners}; every other fd closes.
    """
    signal.set_wakeup_fd(-1)
    for number in RESET_SIGNALS:
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    server.detach()  # its fd 3 is about to be the command pipe: never close it as a socket
    firstFree = wire.FIRST_LISTENER_FD + listeners
    safe = [fd if fd >= firstFree else fcntl.fcntl(fd, fcntl.F_DUPFD, firstFree) for fd in fds]
    for fd, target in zip(safe, wire.FORKED_FDS, strict=True):
        os.dup2(fd, target)
    devnull = os.open(os.devnull, os.O_RDWR)
    if devnull != 0:
        os.dup2(devnull, 0)
    os.set_inheritable(0, True)
    os.closerange(firstFree, _maxFD())
    random.seed()


def runWorker(
    server: socket.socket, argv: list[str], fds: Sequence[int], listeners: int
) -> NoReturn:
    """Become a worker and run it with C{argv}, then leave with its exit status."""
    status = 1
    try:
        becomeWorker(server, fds, listeners)
        from recycler.worker.main import main

        sys.argv = [sys.argv[0], *argv]
        main(argv)
        status = 0
    except SystemExit as e:
        if isinstance(e.code, int) or e.code is None:
            status = e.code or 0
        else:
            print(e.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Preload, report C{ready} (or C{failed}, exit 3), then fork workers until EOF."""
    # Ctrl-C, Ctrl-\ and a HUP sent to the whole process group are the master's
    # to act on; the fork server lives until the master closes its socket.
    for number in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(number, signal.SIG_IGN)
    options = parseArgs(sys.argv[1:] if argv is None else argv)
    setTitle("fork server", options.preload)
    try:
        preload(options.preload)
    except PreloadError as e:
        _event(wire.Event.FAILED, reason=str(e))
        sys.stderr.write(f"recycler fork server: {e}\n")
        sys.stderr.flush()
        os._exit(EXIT_PRELOAD_FAILED)
    server = socket.socket(fileno=wire.FORK_SOCKET_FD)
    _event(wire.Event.READY, pid=os.getpid())
    serve(server, options.listeners)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def parseArgs(args: Sequence[str]) -> argparse.Namespace:
    """C{--listeners N [--preload package.module:name]}; exits 2 on a bad command line."""
    parser = argparse.ArgumentParser(prog="python -m " + wire.FORK_SERVER_MODULE)
    parser.add_argument("--listeners", type=int, default=1, help="sockets from fd 5 on")
    parser.add_argument("--preload", metavar="APP", help="import this app's module once")
    return parser.parse_args(args)


def _event(kind: wire.Event, **fields: object) -> None:
    try:
        os.write(wire.EVENT_FD, wire.encode(kind, **fields))
    except OSError:
        pass


def _ints(data: bytes) -> list[int]:
    fds = array.array("i")
    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return list(fds)


def _maxFD() -> int:
    try:
        return max(os.sysconf("SC_OPEN_MAX"), 256)
    except (OSError, ValueError):
        return 65536


if __name__ == "__main__":
    main()
