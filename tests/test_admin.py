"""Unit tests of the admin port, over in-memory transports, a clock and a fake pool."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.python.failure import Failure

from recycler.admin import render as adminformat
from recycler.admin.protocol import MAX_AUTH_FAILURES, AdminFactory
from recycler.master.policy import TTLRange
from recycler.master.pool import PoolError
from recycler.master.workerprocess import WorkerState

MIB = 1024 * 1024
STARTED = 1000.0


@attrs.define(eq=False)
class FakeWorker:
    """The fields of a worker the admin port reads."""

    workerId: int
    pid: int | None
    state: WorkerState = WorkerState.READY
    spawnedAt: float = STARTED
    readyAt: float | None = None
    served: int = 0
    inFlight: int = 0
    recycleReason: str | None = None
    expiresAt: float | None = None

    def ttlLeft(self, now: float) -> float | None:
        return None if self.expiresAt is None else max(0.0, self.expiresAt - now)


class FakePool:
    """The pool interface the admin port drives, recording every request."""

    def __init__(self) -> None:
        self.target = 2
        self.ttl: TTLRange | None = TTLRange(60, 120)
        self.crashStreak = 0
        self.nextRespawn: float | None = None
        self.workers: dict[int, FakeWorker] = {}
        self.observers: list[Callable[[dict[str, Any]], None]] = []
        self.calls: list[tuple[Any, ...]] = []
        self.failWith: Exception | None = None

    def _call(self, *call: Any) -> None:
        if self.failWith is not None:
            raise self.failWith
        self.calls.append(call)

    def spawn(self, count: int) -> None:
        self._call("spawn", count)
        self.target += count

    def kill(self, workerId: int, now: bool = False, force: bool = False) -> None:
        if workerId not in self.workers:
            raise PoolError(f"worker {workerId} does not exist")
        self._call("kill", workerId, now, force)

    def scale(self, target: int) -> None:
        if target < 1:
            raise PoolError(f"the pool size must be between 1 and 1024, not {target}")
        self._call("scale", target)
        self.target = target

    def reload(self) -> None:
        self._call("reload")

    def stats(self) -> dict[str, Any]:
        return {
            "born": 7,
            "exited": 5,
            "killed": 1,
            "served": 1234,
            "inFlight": 3,
            "spawnFailures": 2,
            "recycles": {"ttl": 4, "manual": 1},
            "uptime": 86.5,
            "target": self.target,
            "states": {"starting": 0, "ready": 1, "draining": 1},
        }

    def nextRespawnIn(self) -> float | None:
        return self.nextRespawn

    def addObserver(self, observer: Callable[[dict[str, Any]], None]) -> None:
        self.observers.append(observer)

    def removeObserver(self, observer: Callable[[dict[str, Any]], None]) -> None:
        if observer in self.observers:
            self.observers.remove(observer)

    def emit(self, event: dict[str, Any]) -> None:
        for observer in list(self.observers):
            observer(event)


class Client:
    """One admin connection over a StringTransport."""

    def __init__(self, factory: AdminFactory) -> None:
        self.factory = factory
        self.transport = StringTransport()
        self.protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        self.protocol.makeConnection(self.transport)

    def send(self, line: bytes | str, end: bytes = b"\r\n") -> list[str]:
        """Send one line; return the lines written in answer."""
        self.transport.clear()
        data = line.encode() if isinstance(line, str) else line
        self.protocol.dataReceived(data + end)
        return self.output()

    def output(self) -> list[str]:
        return self.transport.value().decode().splitlines()

    def json(self, line: str) -> dict[str, Any]:
        """Send one line; return the single JSON object answered."""
        [reply] = self.send(line)
        return json.loads(reply)

    def closed(self) -> bool:
        return self.transport.disconnecting

    def disconnect(self) -> None:
        """Play the kernel: the connection is gone."""
        self.protocol.connectionLost(Failure(ConnectionDone()))


@pytest.fixture
def pool() -> FakePool:
    pool = FakePool()
    pool.workers = {
        4: FakeWorker(4, 1004, WorkerState.STARTING, spawnedAt=STARTED + 40),
        2: FakeWorker(
            2,
            1002,
            WorkerState.DRAINING,
            served=1500,
            inFlight=2,
            recycleReason="ttl",
        ),
        3: FakeWorker(3, 1003, served=12, expiresAt=STARTED + 90.25),
    }
    return pool


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.advance(STARTED + 50)
    return clock


def rss(pid: int | None) -> int | None:
    return {1002: 48 * MIB, 1003: 50 * MIB + MIB // 2}.get(pid)  # type: ignore[arg-type]


def makeFactory(pool: FakePool, clock: Clock, **kwargs: Any) -> AdminFactory:
    return AdminFactory(pool, clock, memoryOf=rss, **kwargs)


@pytest.fixture
def client(pool: FakePool, clock: Clock) -> Client:
    return Client(makeFactory(pool, clock))


# Framing and parsing


def test_helpListsEveryCommand(client):
    """C{help} gives one line per command and ends with C{ok}."""
    lines = client.send("help")
    assert lines[-1] == "ok"
    names = {line.split()[0] for line in lines[:-2]}
    expected = {"list", "stats", "metrics", "watch", "spawn", "kill", "scale", "reload"}
    assert names >= expected | {"ttl", "json", "auth", "help", "quit"}


def test_unknownCommand(client):
    """An unknown command answers one error line naming it."""
    assert client.send("frobnicate 3") == ["error: unknown command 'frobnicate' (try 'help')"]


def test_commandNamesAreCaseInsensitiveAndLFWorks(client, pool):
    """Commands work in any case and with a bare LF (nc) as well as CRLF (telnet)."""
    assert client.send("RELOAD", end=b"\n") == ["ok"]
    assert pool.calls == [("reload",)]


def test_emptyLineIsIgnored(client):
    """A blank line (Enter pressed in telnet) gets no answer."""
    assert client.send("   ") == []


def test_binaryGarbageAnswersAnErrorAndTheConnectionGoesOn(client, pool):
    """Bytes that are not UTF-8 answer C{error:}; the next command still works."""
    lines = client.send(b"\xff\xfe\x00\x80garbage")
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert not client.closed()
    assert client.send(b"\x00\x01") == ["error: unknown command '??' (try 'help')"]
    assert client.send("reload") == ["ok"]


def test_oversizeLineDisconnectsAndTheFactoryServesANewClient(pool, clock):
    """A 1 MB line closes the connection after one error; a new client is served."""
    factory = makeFactory(pool, clock, maxClients=1)
    flooder = Client(factory)
    lines = flooder.send(b"x" * (1024 * 1024), end=b"")
    assert len(lines) == 1 and lines[0].startswith("error: line too long")
    assert flooder.closed()
    flooder.disconnect()
    assert factory.clients == set()
    assert Client(factory).send("reload") == ["ok"]


def test_linesAfterQuitAreIgnored(client, pool):
    """C{quit} answers C{bye} and closes; lines sent after it are not run."""
    client.protocol.dataReceived(b"quit\nreload\n")
    assert client.output() == ["bye"]
    assert client.closed()
    assert pool.calls == []


def test_unexpectedExceptionAnswersInternalError(client, pool):
    """A bug in the pool answers C{error: internal error}, is logged, and raises nowhere."""
    pool.failWith = RuntimeError("boom")
    with capturedLogs() as events:
        lines = client.send("reload")
    assert lines == ["error: internal error (see the master's log)"]
    assert any(e.get("log_failure") is not None for e in events)
    pool.failWith = None
    assert client.send("reload") == ["ok"]


# list, stats, metrics


def test_listShowsOneAlignedRowPerWorker(client):
    """C{list} shows the target, a header and one row per worker by id, then C{ok}."""
    lines = client.send("list")
    assert lines[0] == "target 2, 3 live (1 starting, 1 ready, 1 draining)"
    assert lines[1].split() == [
        "ID",
        "PID",
        "STATE",
        "AGE",
        "TTL",
        "SERVED",
        "INFLIGHT",
        "RSS(MiB)",
        "REASON",
    ]
    rows = [line.split() for line in lines[2:-1]]
    assert rows == [
        ["2", "1002", "draining", "50.0", "-", "1500", "2", "48.0", "ttl"],
        ["3", "1003", "ready", "50.0", "40.2", "12", "0", "50.5", "-"],
        ["4", "1004", "starting", "10.0", "-", "0", "0", "-", "-"],
    ]
    assert lines[-1] == "ok"
    header, draining = lines[1], lines[2]
    assert header.index("STATE") == draining.index("draining"), "text columns align left"
    assert header.index("REASON") == draining.index("ttl")
    assert header.index("SERVED") + 6 == draining.index("1500") + 4, "numbers align right"


def test_listShowsTheCrashBackoff(client, pool):
    """While the pool backs off, C{list} shows the streak and the next attempt."""
    pool.crashStreak, pool.nextRespawn = 3, 4.25
    assert client.send("list")[1] == "backoff: 3 failed starts in a row, next attempt in 4.2s"


def test_listJSON(client, pool):
    """C{list --json} gives the target, the workers' fields and the backoff as one object."""
    pool.crashStreak, pool.nextRespawn = 1, 0.5
    reply = client.json("list --json")
    assert reply["ok"] is True and reply["version"] == 1
    assert reply["target"] == 2
    assert reply["backoff"] == {"streak": 1, "nextAttemptIn": 0.5}
    assert [w["id"] for w in reply["workers"]] == [2, 3, 4]
    assert reply["workers"][1] == {
        "id": 3,
        "pid": 1003,
        "state": "ready",
        "age": 50.0,
        "ttlLeft": 40.25,
        "served": 12,
        "inFlight": 0,
        "rssBytes": 50 * MIB + MIB // 2,
        "reason": None,
    }


def test_stats(client):
    """C{stats} shows the pool totals, one per line, then C{ok}."""
    lines = client.send("stats")
    totals = {line.split()[0]: line.split(None, 1)[1] for line in lines[:-1]}
    assert totals["served"] == "1234"
    assert totals["recycles"] == "manual=1 ttl=4"
    assert totals["workers"] == "starting=0 ready=1 draining=1"
    assert totals["backoff"] == "-"
    assert lines[-1] == "ok"
    reply = client.json("stats --json")
    assert reply["stats"]["spawnFailures"] == 2 and reply["backoff"] is None


SAMPLE = re.compile(r'^[a-z_]+(\{[a-z]+="[^"\\]*"\})? -?[0-9.e+]+$')


def test_metricsAreInThePrometheusTextFormat(client, pool):
    """Each C{metrics} sample line is C{name{labels} value}; counters and states are present."""
    pool.workers = {}
    lines = client.send("metrics")
    assert lines[-1] == "ok"
    samples = {}
    for line in lines[:-1]:
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
            continue
        assert SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    assert samples["recycler_workers_born_total"] == 7
    assert samples["recycler_workers_exited_total"] == 5
    assert samples["recycler_workers_killed_total"] == 1
    assert samples["recycler_requests_served_total"] == 1234
    assert samples["recycler_spawn_failures_total"] == 2
    assert samples['recycler_recycles_total{reason="ttl"}'] == 4
    assert samples['recycler_workers{state="starting"}'] == 0
    assert samples['recycler_workers{state="draining"}'] == 1
    assert samples["recycler_workers_target"] == 2
    assert samples["recycler_requests_in_flight"] == 3
    assert samples["recycler_uptime_seconds"] == 86.5
    assert "# TYPE recycler_workers_born_total counter" in lines
    assert "# TYPE recycler_workers gauge" in lines


def test_metricsEscapeLabelValues():
    """A recycle reason with quotes or newlines cannot break the exposition format."""
    stats = FakePool().stats()
    stats["recycles"] = {'we"ird\nreason\\': 1}
    lines = adminformat.metricsLines(stats, 0)
    assert 'recycler_recycles_total{reason="we\\"ird\\nreason\\\\"} 1' in lines


def test_metricsJSON(client):
    """C{metrics --json} gives the counters as one object."""
    metrics = client.json("metrics --json")["metrics"]
    assert metrics["recycler_requests_served_total"] == 1234
    assert metrics["recycler_recycles_total"] == {"manual": 1, "ttl": 4}
    assert metrics["recycler_workers"] == {"starting": 0, "ready": 1, "draining": 1}


# Commands that change the pool


def test_spawn(client, pool):
    """C{spawn} adds one worker, C{spawn N} adds N; a non-number is an error."""
    assert client.send("spawn") == ["ok"]
    assert client.send("spawn 3") == ["ok"]
    assert pool.calls == [("spawn", 1), ("spawn", 3)]
    assert client.send("spawn many") == ["error: N must be an integer, not 'many'"]
    assert client.send("spawn 1 2") == ["error: usage: spawn [N]"]


def test_killPassesTheFlags(client, pool):
    """C{kill ID [--now] [--force]} asks the pool to kill that worker with those flags."""
    assert client.send("kill 3") == ["ok"]
    assert client.send("kill 2 --now --force") == ["ok"]
    assert pool.calls == [("kill", 3, False, False), ("kill", 2, True, True)]


def test_killErrors(client, pool):
    """Unknown ids (the pool's own message), bad ids and bad arguments each answer one error."""
    assert client.send("kill 99") == ["error: worker 99 does not exist"]
    assert client.send("kill three") == ["error: worker id must be an integer, not 'three'"]
    assert client.send("kill") == ["error: usage: kill ID [--now] [--force]"]
    assert client.send("kill 3 --gently") == ["error: usage: kill ID [--now] [--force]"]
    assert pool.calls == []


def test_scaleAndPoolErrorPassthrough(client, pool):
    """C{scale N} sets the target; the pool's refusal comes back as its message."""
    assert client.send("scale 5") == ["ok"]
    assert pool.target == 5
    assert client.send("scale 0") == ["error: the pool size must be between 1 and 1024, not 0"]
    assert client.json("scale 3 --json") == {"ok": True, "version": 1, "target": 3}


def test_ttl(client, pool):
    """C{ttl MIN:MAX} and C{ttl off} set the pool's TTL; C{ttl} shows it; bad input errs."""
    assert client.send("ttl") == ["ttl 60:120", "ok"]
    assert client.send("ttl 5:10") == ["ttl 5:10", "ok"]
    assert pool.ttl == TTLRange(5, 10)
    assert client.send("ttl off") == ["ttl off", "ok"]
    assert pool.ttl is None
    [error] = client.send("ttl 10:5")
    assert error.startswith("error: need finite 0 <= MIN <= MAX")
    assert pool.ttl is None


# JSON mode


def test_jsonModeToggles(client, pool):
    """C{json} switches every reply to one JSON object per line; C{json} again switches back."""
    assert client.json("json") == {"ok": True, "version": 1, "json": True}
    assert client.json("reload") == {"ok": True, "version": 1}
    assert client.json("kill 99") == {
        "ok": False,
        "version": 1,
        "error": "worker 99 does not exist",
    }
    assert client.json("nope") == {
        "ok": False,
        "version": 1,
        "error": "unknown command 'nope' (try 'help')",
    }
    assert client.send("json") == ["ok"]
    assert client.send("reload") == ["ok"]


def test_jsonFlagAppliesToOneCommand(client):
    """C{--json} on one command answers that command in JSON only."""
    assert client.json("help --json")["commands"][0]["name"] == "list"
    assert client.json("kill x --json")["ok"] is False
    assert client.send("reload") == ["ok"]
    assert client.send("json maybe") == ["error: usage: json [on|off]"]
    assert client.json("json on")["json"] is True
    assert client.json("json on")["json"] is True


# Authentication


def test_tokenRequiredBeforeCommands(pool, clock):
    """With a token, commands other than auth, help and quit answer 'authentication required'."""
    client = Client(makeFactory(pool, clock, token="s3cret"))
    assert client.send("reload") == ["error: authentication required"]
    assert client.send("json") == ["error: authentication required"]
    assert client.send("help")[-1] == "ok"
    assert pool.calls == []


def test_badTokenThenGoodToken(pool, clock):
    """A wrong token answers 'bad token'; the right one unlocks every command."""
    client = Client(makeFactory(pool, clock, token="s3cret"))
    assert client.send("auth guess") == ["error: bad token"]
    assert client.send("reload") == ["error: authentication required"]
    assert client.send("auth s3cret") == ["ok"]
    assert client.send("reload") == ["ok"]


def test_tooManyBadTokensClose(pool, clock):
    """After a few wrong tokens the connection is closed."""
    client = Client(makeFactory(pool, clock, token="s3cret"))
    for _ in range(MAX_AUTH_FAILURES - 1):
        client.send("auth guess")
    assert not client.closed()
    [error] = client.send("auth guess")
    assert error.startswith("error: bad token")
    assert client.closed()


def test_emptyTokenIsRefused(pool, clock):
    """A token that could never be sent (empty, with spaces) is a configuration error."""
    with pytest.raises(ValueError):
        makeFactory(pool, clock, token="")
    with pytest.raises(ValueError):
        makeFactory(pool, clock, token="two words")


# watch


def test_watchStreamsEventsUntilALine(client, pool):
    """C{watch} streams events as lines; the next line ends it, answered C{ok}, not run."""
    assert client.send("watch") == ["ok"]
    client.transport.clear()
    pool.emit({"event": "born", "workerId": 5, "pid": 1005, "ttl": 2.1, "maxRequests": None})
    pool.emit({"event": "draining", "workerId": 3, "pid": 1003, "reason": "exit code 1"})
    assert client.output() == [
        "born worker=5 pid=1005 ttl=2.1",
        'draining worker=3 pid=1003 reason="exit code 1"',
    ]
    assert client.send("reload") == ["ok"]
    assert pool.calls == [], "the line that ends watch is not a command"
    assert pool.observers == []
    pool.emit({"event": "born", "workerId": 6, "pid": 1006})
    client.transport.clear()
    assert client.output() == []


def test_watchJSON(client, pool):
    """C{watch --json} streams one JSON object per event."""
    assert client.json("watch --json") == {"ok": True, "version": 1, "watching": True}
    client.transport.clear()
    pool.emit({"event": "exited", "workerId": 3, "pid": 1003, "exitCode": 0})
    [line] = client.output()
    assert json.loads(line) == {
        "version": 1,
        "event": "exited",
        "workerId": 3,
        "pid": 1003,
        "exitCode": 0,
    }
    assert client.json("") == {"ok": True, "version": 1, "watching": False}


def test_disconnectMidWatchRemovesTheObserver(client, pool):
    """A client that vanishes while watching leaves no observer on the pool."""
    client.send("watch")
    assert len(pool.observers) == 1
    client.disconnect()
    assert pool.observers == []


def test_slowWatcherDropsEventsAndIsTold(client, pool):
    """While the client does not read, events are dropped and it is told how many after."""
    client.send("watch")
    client.transport.clear()
    client.transport.producer.pauseProducing()
    assert client.transport.producerState == "paused", "commands are not read meanwhile"
    pool.emit({"event": "ready", "workerId": 5, "pid": 1005})
    pool.emit({"event": "ready", "workerId": 6, "pid": 1006})
    assert client.output() == []
    client.transport.producer.resumeProducing()
    assert client.transport.producerState == "producing"
    assert client.output() == ["dropped count=2"]


# Connection limit and idle timeout


def test_connectionLimit(pool, clock):
    """Beyond maxClients the new client gets one error and is disconnected."""
    factory = makeFactory(pool, clock, maxClients=2)
    first, _ = Client(factory), Client(factory)
    third = Client(factory)
    assert third.output() == ["error: too many admin clients"]
    assert third.closed()
    third.protocol.dataReceived(b"reload\n")
    third.disconnect()
    assert pool.calls == []
    assert len(factory.clients) == 2
    first.disconnect()
    fourth = Client(factory)
    assert not fourth.closed()
    assert fourth.send("reload") == ["ok"]


def test_idleTimeout(pool, clock):
    """A client silent for idleTimeout seconds is disconnected; any line restarts the count."""
    client = Client(makeFactory(pool, clock, idleTimeout=300))
    clock.advance(299)
    client.send("reload")
    clock.advance(299)
    assert not client.closed()
    client.transport.clear()
    clock.advance(1)
    assert client.output() == ["error: idle for 300s, closing"]
    assert client.closed()
    client.disconnect()
    assert clock.getDelayedCalls() == []


def test_noIdleTimeoutWhileWatching(pool, clock):
    """A watching client is not timed out; once it stops watching the timeout is back."""
    client = Client(makeFactory(pool, clock, idleTimeout=300))
    client.send("watch")
    clock.advance(3600)
    assert not client.closed()
    client.send("")
    clock.advance(300)
    assert client.closed()


def test_disconnectCancelsTheIdleTimer(client, clock):
    """A client that leaves leaves no timer behind."""
    client.disconnect()
    assert clock.getDelayedCalls() == []


# Text rendering


def test_eventTextQuotesAwkwardValues():
    """Event values with spaces, quotes or newlines are quoted, so an event is one line."""
    line = adminformat.eventText({"event": "exited", "workerId": 1, "why": 'a "b"\nc', "x": True})
    assert line == 'exited worker=1 why="a \\"b\\"\\nc" x=true'
    assert adminformat.jsonLine({"t": float("nan")}) == '{"t":null}'
