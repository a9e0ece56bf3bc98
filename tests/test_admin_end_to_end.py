"""End-to-end: the admin port of a real server, driven by a real TCP client."""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from tests.harness import AdminClient, Server, load, waitUntil

OK = (200, b"Request done\n")


def states(admin: AdminClient) -> Counter[str]:
    return Counter(worker["state"] for worker in admin.json("list")["workers"])


def pids(admin: AdminClient) -> set[int]:
    return {worker["pid"] for worker in admin.json("list")["workers"]}


def test_listSpawnKillScale(startServer):
    """list shows 4 ready; spawn 2 gives 6; kill replaces a pid; scale 2 ends with 2."""
    server = startServer("--workers", "4", "--ttl", "off")
    server.waitReady(4)
    with AdminClient(server.adminPort) as admin:
        reply = admin.command("list")
        assert reply[-1] == "ok"
        assert sum(1 for line in reply if " ready " in line) == 4
        assert admin.command("spawn 2") == ["ok"]
        waitUntil(lambda: states(admin)["ready"] == 6, 15, "6 ready workers")

        before = pids(admin)
        victim = admin.json("list")["workers"][0]
        assert admin.command(f"kill {victim['id']}") == ["ok"]
        waitUntil(lambda: victim["pid"] not in pids(admin), 15, "the killed worker to exit")
        waitUntil(lambda: states(admin)["ready"] == 6, 15, "its replacement")
        assert len(pids(admin) - before) == 1

        assert admin.command("scale 2") == ["ok"]
        waitUntil(lambda: states(admin) == Counter(ready=2), 15, "2 workers left")
        stats = admin.json("stats")["stats"]
        assert stats["recycles"] == {"manual": 1, "scale": 4}


@pytest_twisted.ensureDeferred
async def test_reloadUnderLoadLosesNothing(startServer):
    """reload while requests flow: every pid is replaced and no request fails."""
    from twisted.internet import reactor

    server = startServer("--workers", "4", "--ttl", "off")
    await deferToThread(server.waitReady, 4)
    admin = AdminClient(server.adminPort)
    try:
        original = await deferToThread(pids, admin)
        requests: Deferred = Deferred.fromCoroutine(
            load(reactor, server.url, total=160, concurrency=20)
        )
        assert await deferToThread(admin.command, "reload") == ["ok"]
        assert Counter(await requests) == Counter({OK: 160})
        await deferToThread(
            waitUntil,
            lambda: not (pids(admin) & original) and states(admin) == Counter(ready=4),
            20,
            "every worker replaced",
        )
    finally:
        admin.close()


@pytest_twisted.ensureDeferred
async def test_overlapNeverDipsBelowTarget(startServer):
    """With TTL 0-1 s under load, list sampled every 50 ms never shows fewer than 4 ready."""
    from twisted.internet import reactor

    server = startServer("--workers", "4", "--ttl", "0:1")
    await deferToThread(server.waitReady, 4)
    admin = AdminClient(server.adminPort)
    samples: list[int] = []
    done = False

    def sample() -> None:
        while not done:
            samples.append(states(admin)["ready"])
            time.sleep(0.05)

    try:
        sampling = deferToThread(sample)
        results = await load(reactor, server.url, total=200, concurrency=20)
        done = True
        await sampling
    finally:
        done = True
        admin.close()
    assert Counter(results) == Counter({OK: 200})
    assert len(samples) > 100
    assert min(samples) >= 4, Counter(samples)
    assert len(server.eventsOf("exited")) >= 10, "workers were in fact recycled"


def test_badInputNeverHurtsThePool(startServer):
    """Unknown commands, bad arguments, a 1 MB line, garbage, a vanished watcher: pool fine."""
    server = startServer("--workers", "2", "--ttl", "off")
    server.waitReady(2)
    with AdminClient(server.adminPort) as admin:
        assert admin.command("frobnicate")[0].startswith("error: unknown command")
        assert admin.command("kill")[0].startswith("error: usage: kill")
        assert admin.command("kill abc")[0].startswith("error:")
        assert admin.command("kill 999") == ["error: worker 999 does not exist"]
        assert admin.command("scale -3")[0].startswith("error:")
        assert admin.command("ttl 5:1")[0].startswith("error:")
        admin.send(b"\xff\xfe\x00garbage\n")
        assert admin.readLine().startswith("error:")
        assert admin.command("list")[-1] == "ok"

    with AdminClient(server.adminPort) as flooder:
        try:
            flooder.send(b"x" * (1024 * 1024) + b"\n")
        except OSError:
            pass  # the server may close before it has read everything
        closedAt = time.monotonic()
        try:
            while flooder.readLine():
                pass
        except (ConnectionError, OSError):
            pass
        assert time.monotonic() - closedAt < 5

    watcher = AdminClient(server.adminPort)
    assert watcher.command("watch") == ["ok"]
    watcher.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    watcher.close()  # vanishes with a reset, mid-watch

    with AdminClient(server.adminPort) as admin:
        assert admin.command("spawn 1") == ["ok"]
        waitUntil(lambda: states(admin)["ready"] == 3, 15, "the pool to keep working")
    assert server.process.poll() is None


def test_tokenIsRequiredBeforeCommands(startServer):
    """With --admin-token, commands are refused until 'auth TOKEN'."""
    server = startServer("--workers", "1", "--ttl", "off", "--admin-token", "s3cret")
    server.waitReady(1)
    with AdminClient(server.adminPort) as admin:
        assert admin.command("list") == ["error: authentication required"]
        assert admin.command("auth nope")[0].startswith("error:")
        assert admin.command("auth s3cret") == ["ok"]
        assert admin.command("list")[-1] == "ok"


def test_metricsAreExposed(startServer):
    """metrics answers Prometheus text with the pool's counters and gauges."""
    server = startServer("--workers", "2", "--ttl", "off")
    server.waitReady(2)
    with AdminClient(server.adminPort) as admin:
        lines = admin.command("metrics")
    samples = dict(line.rsplit(" ", 1) for line in lines[:-1] if not line.startswith("#"))
    assert samples['recycler_workers{state="ready"}'] == "2.0"
    assert samples["recycler_workers_born_total"] == "2.0"


# The clients operators really use: nc and telnet.

NC = shutil.which("nc")
TELNET = shutil.which("telnet")
needsNC = pytest.mark.skipif(NC is None, reason="needs nc (apt-get install netcat-openbsd)")
needsTelnet = pytest.mark.skipif(TELNET is None, reason="needs telnet (apt-get install telnet)")


@pytest.fixture
def oneWorker() -> Iterator[Server]:
    """A server with one worker and no TTL: these tests are about its admin port."""
    server = Server("--workers", "1", "--ttl", "off")
    try:
        server.waitReady(1)
        yield server
    finally:
        server.kill()


def nc(port: int, flag: str, data: bytes) -> list[str]:
    """Pipe C{data} into C{nc FLAG 127.0.0.1 PORT}; return the lines it printed."""
    args = [NC, flag, "127.0.0.1", str(port)]
    result = subprocess.run(args, input=data, capture_output=True, timeout=20, check=False)
    return result.stdout.decode().splitlines()


def isListReply(lines: list[str]) -> bool:
    """The whole text reply of C{list} for one worker: summary, table, C{ok}."""
    return (
        len(lines) >= 4
        and lines[0].startswith("target 1, 1 live")
        and any(line.startswith("ID ") for line in lines)
        and lines[-1] == "ok"
    )


@needsNC
@pytest.mark.parametrize("flag", ["-q1", "-N"])
def test_ncOneShotsGetTheWholeReply(oneWorker: Server, flag: str) -> None:
    """
    C{printf 'list\\n' | nc FLAG host port}, six times: each gets the whole table
    and C{ok} (nc shuts its sending side at the end of its input, and the
    server answered nothing); the last line needs no LF.
    """
    port = oneWorker.adminPort
    for data in [b"list\n"] * 6 + [b"list"] * 2:
        lines = nc(port, flag, data)
        assert isListReply(lines), (data, lines)
    assert nc(port, flag, b"metrics\n")[-1] == "ok"


@needsNC
def test_silentClientsDoNotLockTheOperatorOut(oneWorker: Server) -> None:
    """With 16 connections open and silent (the limit), nc still gets its reply."""
    port = oneWorker.adminPort
    silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(16)]
    try:
        assert isListReply(nc(port, "-N", b"list\n"))
    finally:
        for connection in silent:
            connection.close()


class Terminal:
    """A program on a pseudo-terminal it controls, as a shell runs it: Ctrl-C is SIGINT."""

    def __init__(self, *argv: str) -> None:
        master, slave = os.openpty()
        # A new session, and the pty as its controlling terminal, then the program.
        shim = (
            "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
            "os.execvp(sys.argv[1], sys.argv[1:])"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", shim, *argv],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()

    def type(self, keys: bytes) -> None:
        """Type C{keys} on the terminal's keyboard."""
        os.write(self.master, keys)

    def text(self, start: int = 0) -> str:
        """What the terminal showed from byte C{start}, without CRs."""
        return self.output[start:].decode("utf-8", "replace").replace("\r", "")

    def waitFor(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Read the terminal until C{predicate()}, failing after C{timeout} seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; screen:\n{self.text()}")
            if select.select([self.master], [], [], min(remaining, 0.1))[0]:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # the program exited: the pty is gone
                    raise AssertionError(f"the terminal closed; screen:\n{self.text()}") from None

    def close(self) -> None:
        """Kill the program, close the terminal."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        os.close(self.master)


def listAnswered(terminal: Terminal, start: int) -> bool:
    """Whether the terminal shows a whole C{list} reply after byte C{start}."""
    screen = terminal.text(start)
    return "\nID " in screen and "\nok\n" in screen[screen.index("\nID ") :]


@needsTelnet
def test_telnetAfterCtrlC(oneWorker: Server) -> None:
    """
    In a real telnet, Ctrl-C (IAC IP, then IAC DO TIMING-MARK) stops C{watch},
    and the next command's reply shows: telnet shows nothing until the timing
    mark is answered.
    """
    terminal = Terminal(TELNET, "127.0.0.1", str(oneWorker.adminPort))
    try:
        terminal.waitFor(lambda: "Escape character" in terminal.text(), 10, "telnet to connect")
        terminal.type(b"list\r")
        terminal.waitFor(lambda: listAnswered(terminal, 0), 10, "the first list")
        start = len(terminal.output)
        terminal.type(b"watch\r")
        terminal.waitFor(lambda: "\nok\n" in terminal.text(start), 10, "watch to start")
        start = len(terminal.output)
        terminal.type(b"\x03")
        terminal.type(b"list\r")
        terminal.waitFor(lambda: listAnswered(terminal, start), 10, "list after Ctrl-C")
    finally:
        terminal.close()
