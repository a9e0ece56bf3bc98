"""End-to-end: the admin port of a real server, driven by a real TCP client."""

from __future__ import annotations

import socket
import struct
import time
from collections import Counter

import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from tests.harness import AdminClient, load, waitUntil

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
        results = await load(reactor, server.url, total=400, concurrency=20)
        done = True
        await sampling
    finally:
        done = True
        admin.close()
    assert Counter(results) == Counter({OK: 400})
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
    assert samples['recycler_workers{state="ready"}'] == "2"
    assert samples["recycler_workers_born_total"] == "2"
