"""Tests of L{recycler.admin.commands}: the registry, and each command against a fake pool."""

from __future__ import annotations

import json
import re
from pathlib import Path

from twisted.logger import capturedLogs

from recycler.admin.commands import REGISTRY, Reply, command
from recycler.admin.metrics import metricsFields, metricsLines
from recycler.master.events import StopReason
from recycler.master.lifecycle import WorkerState
from recycler.master.policy import TTLRange
from recycler.master.stats import ForkServerStatus
from tests.admin.support import MIB, AdminTestCase, FakeWorker

DOCS = Path(__file__).resolve().parents[2] / "docs" / "admin.md"

ALL_COMMANDS = [
    "list",
    "stats",
    "metrics",
    "watch",
    "spawn",
    "kill",
    "scale",
    "reload",
    "ttl",
    "json",
    "auth",
    "help",
    "quit",
]


class RegistryTests(AdminTestCase):
    """Each command is declared once, and C{help} and the checks follow the declaration."""

    def test_helpListsEveryCommand(self) -> None:
        """C{help} gives one line per command and ends with C{ok}."""
        lines = self.client.send("help")
        self.assertEqual(lines[-1], "ok")
        self.assertEqual([line.split()[0] for line in lines[:-2]], ALL_COMMANDS)
        self.assertEqual(lines[-2], "every command also takes --json: a one-line JSON reply")

    def test_helpAgreesWithTheRegistry(self) -> None:
        """Each C{help} line is a declared synopsis and summary; the JSON form says the same."""
        self.assertEqual(list(REGISTRY), ALL_COMMANDS)
        lines = self.client.send("help")[:-2]
        for line, spec in zip(lines, REGISTRY.values(), strict=True):
            usage, summary = re.split(r"\s{2,}", line, maxsplit=1)
            self.assertEqual((usage, summary), (spec.usage, spec.summary))
        self.assertEqual(
            self.client.json("help --json")["commands"],
            [
                {"name": name, "usage": spec.usage, "summary": spec.summary}
                for name, spec in REGISTRY.items()
            ],
        )

    def test_theSynopsisIsTheSpec(self) -> None:
        """Flags and argument counts come from the synopsis: C{[--x]} flags, C{[X]} optional."""
        kill, spawn, ttl, auth = (REGISTRY[name] for name in ("kill", "spawn", "ttl", "auth"))
        self.assertEqual(kill.flags, {"--now", "--force"})
        self.assertEqual(kill.arguments, (1, 1))
        self.assertEqual((spawn.flags, spawn.arguments), (frozenset(), (0, 1)))
        self.assertEqual(ttl.arguments, (0, 1))
        self.assertEqual(auth.arguments, (1, 1))
        self.assertEqual(REGISTRY["reload"].arguments, (0, 0))
        self.assertEqual(self.client.send("reload now"), ["error: usage: reload"])
        self.assertEqual(self.client.send("scale"), ["error: usage: scale N"])
        self.assertEqual(self.pool.calls, [])

    def test_onlyAuthHelpAndQuitAreOpen(self) -> None:
        """The commands allowed before C{auth} are auth, help and quit; auth's are secret."""
        opened = {name for name, spec in REGISTRY.items() if spec.open}
        self.assertEqual(opened, {"auth", "help", "quit"})
        self.assertEqual({name for name, spec in REGISTRY.items() if spec.secret}, {"auth"})

    def test_aCommandCannotBeDeclaredTwice(self) -> None:
        """Declaring a name again is refused, and the first declaration stays."""
        first = REGISTRY["list"]
        declare = command("list", "a second list")
        self.assertRaises(ValueError, declare, lambda session, args, flags: Reply())
        self.assertIs(REGISTRY["list"], first)

    def test_theDocsListEveryCommand(self) -> None:
        """docs/admin.md's command table has one row per declared synopsis."""
        section = DOCS.read_text().partition("## Commands")[2].partition("\n### ")[0]
        table = re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)
        usages = [usage.replace("\\|", "|") for usage in table if usage.split()[0] in REGISTRY]
        self.assertEqual(usages, [spec.usage for spec in REGISTRY.values()])

    def test_mutatingCommandsAreAudited(self) -> None:
        """Commands that change the pool are logged with the client's address; others are not."""
        with capturedLogs() as events:
            self.client.send("kill 3 --now")
            self.client.send("list")
            self.client.send("ttl")
            self.client.send("ttl 5:10")
        peer = self.client.transport.getPeer()
        audit = [
            (e["peer"], e["command"]) for e in events if e.get("log_format", "").startswith("admin")
        ]
        where = f"{peer.host}:{peer.port}"
        self.assertEqual(audit, [(where, "kill 3 --now"), (where, "ttl 5:10")])


class ListTests(AdminTestCase):
    """C{list}: the live workers."""

    def test_listShowsOneAlignedRowPerWorker(self) -> None:
        """C{list} shows the target, a header and one row per worker by id, then C{ok}."""
        lines = self.client.send("list")
        self.assertEqual(lines[0], "target 2, 3 live (1 starting, 1 ready, 1 draining)")
        self.assertEqual(
            lines[1].split(),
            [
                "ID", "PID", "STATE", "AGE", "TTL", "SERVED", "INFLIGHT", "RSS(MiB)", "SPAWN",
                "READY(ms)", "REASON",
            ],
        )  # fmt: skip
        rows = [line.split() for line in lines[2:-1]]
        self.assertEqual(
            rows,
            [
                ["2", "1002", "draining", "50.0", "-", "1500", "2", "48.0", "fork", "-", "ttl"],
                ["3", "1003", "ready", "50.0", "40.2", "12", "0", "50.5", "fork", "12", "-"],
                ["4", "1004", "starting", "10.0", "-", "0", "0", "-", "fork", "-", "-"],
            ],
        )
        self.assertEqual(lines[-1], "ok")
        header, draining = lines[1], lines[2]
        self.assertEqual(header.index("STATE"), draining.index("draining"), "text aligns left")
        self.assertEqual(header.index("REASON"), draining.index("ttl"))
        self.assertEqual(
            header.index("SERVED") + 6, draining.index("1500") + 4, "numbers align right"
        )

    def test_listShowsPhasesAndPendingReasons(self) -> None:
        """A retiring worker is ready, a killed one draining; a queued recycle shows its reason."""
        self.pool.workers = {
            5: FakeWorker(5, 1005, WorkerState.RETIRING, stopReason=StopReason.RELOAD),
            6: FakeWorker(6, 1006, WorkerState.KILLED, stopReason=StopReason.KILL),
            7: FakeWorker(7, 1007, WorkerState.READY),
        }
        self.pool.queued = {7: StopReason.MAX_REQUESTS}
        lines = self.client.send("list")
        self.assertEqual(lines[0], "target 2, 3 live (0 starting, 2 ready, 1 draining)")
        rows = [(line.split()[2], line.split()[-1]) for line in lines[2:-1]]
        self.assertEqual(
            rows, [("ready", "reload"), ("draining", "kill"), ("ready", "max-requests")]
        )

    def test_listShowsTheForkServer(self) -> None:
        """With forked workers, C{list} says whether the fork server can fork, and why not."""
        self.pool.forkServer = ForkServerStatus(pid=900, ready=True, restarts=2, failure=None)
        self.assertEqual(self.client.send("list")[1], "fork server: pid 900, ready, 2 restarts")
        self.pool.forkServer = ForkServerStatus(None, False, 3, "cannot import 'app'")
        self.assertEqual(
            self.client.send("list")[1], "fork server: down (cannot import 'app'), 3 restarts"
        )
        listed = json.loads(self.client.send("list --json")[0])
        self.assertEqual(
            listed["forkServer"],
            {"pid": None, "ready": False, "restarts": 3, "failure": "cannot import 'app'"},
        )

    def test_listShowsTheCrashBackoff(self) -> None:
        """While the pool backs off, C{list} shows the streak and the next attempt."""
        self.pool.crashStreak, self.pool.nextRespawnIn = 3, 4.25
        self.assertEqual(
            self.client.send("list")[1], "backoff: 3 failed starts in a row, next attempt in 4.2s"
        )
        self.pool.nextRespawnIn = None
        self.assertEqual(
            self.client.send("list")[1], "backoff: 3 failed starts in a row, next attempt pending"
        )

    def test_listJSON(self) -> None:
        """C{list --json} gives the target, the workers' fields and the backoff as one object."""
        self.pool.crashStreak, self.pool.nextRespawnIn = 1, 0.5
        reply = self.client.json("list --json")
        self.assertIs(reply["ok"], True)
        self.assertEqual(reply["version"], 1)
        self.assertEqual(reply["target"], 2)
        self.assertEqual(reply["backoff"], {"streak": 1, "nextAttemptIn": 0.5})
        self.assertEqual([w["id"] for w in reply["workers"]], [2, 3, 4])
        self.assertEqual(reply["workers"][0]["reason"], "ttl")
        self.assertEqual(
            reply["workers"][1],
            {
                "id": 3,
                "pid": 1003,
                "state": "ready",
                "age": 50.0,
                "ttlLeft": 40.25,
                "served": 12,
                "inFlight": 0,
                "rssBytes": 50 * MIB + MIB // 2,
                "reason": None,
                "spawn": "fork",
                "startup": 0.0125,
            },
        )


class TotalsTests(AdminTestCase):
    """C{stats} and C{metrics}: the pool's counters."""

    def test_stats(self) -> None:
        """C{stats} shows the pool totals, one per line, then C{ok}."""
        lines = self.client.send("stats")
        totals = {line.split()[0]: line.split(None, 1)[1] for line in lines[:-1]}
        self.assertEqual(totals["served"], "1234")
        self.assertEqual(totals["recycles"], "manual=1 ttl=4")
        self.assertEqual(totals["workers"], "starting=0 ready=1 draining=1")
        self.assertEqual(totals["backoff"], "-")
        self.assertEqual(lines[-1], "ok")
        reply = self.client.json("stats --json")
        self.assertEqual(reply["stats"]["spawnFailures"], 2)
        self.assertIsNone(reply["backoff"])

    def test_statsJSONKeepsItsShape(self) -> None:
        """C{stats --json} gives the same fields as before L{PoolStats}, states nested."""
        self.pool.crashStreak = 2
        reply = self.client.json("stats --json")
        self.assertEqual(
            reply["stats"],
            {
                "born": 7,
                "exited": 5,
                "killed": 1,
                "served": 1234,
                "inFlight": 3,
                "spawnFailures": 2,
                "recycles": {"ttl": 4, "manual": 1},
                "uptime": 86.5,
                "target": 2,
                "states": {"starting": 0, "ready": 1, "draining": 1},
            },
        )
        self.assertEqual(reply["backoff"], {"streak": 2, "nextAttemptIn": None})

    def test_metrics(self) -> None:
        """C{metrics} answers the exposition then C{ok}; C{--json} the same numbers."""
        stats = self.pool.stats()
        self.assertEqual(self.client.send("metrics"), [*metricsLines(stats), "ok"])
        metrics = self.client.json("metrics --json")["metrics"]
        self.assertEqual(metrics, metricsFields(stats))
        self.assertEqual(metrics["recycler_requests_served_total"], 1234)


class PoolChangeTests(AdminTestCase):
    """The commands that change the pool."""

    def test_spawn(self) -> None:
        """C{spawn} adds one worker, C{spawn N} adds N; a non-number is an error."""
        self.assertEqual(self.client.send("spawn"), ["ok"])
        self.assertEqual(self.client.send("spawn 3"), ["ok"])
        self.assertEqual(self.pool.calls, [("spawn", 1), ("spawn", 3)])
        self.assertEqual(
            self.client.send("spawn many"), ["error: N must be an integer, not 'many'"]
        )
        self.assertEqual(self.client.send("spawn 1 2"), ["error: usage: spawn [N]"])
        self.assertEqual(self.client.json("spawn --json"), {"ok": True, "version": 1, "target": 7})

    def test_killRecyclesAndKillNowKills(self) -> None:
        """C{kill ID} recycles gracefully; C{kill ID --now [--force]} SIGKILLs."""
        self.assertEqual(self.client.send("kill 3"), ["ok"])
        self.assertEqual(self.client.send("kill 2 --now --force"), ["ok"])
        self.assertEqual(self.client.send("kill 4 --now"), ["ok"])
        self.assertEqual(self.pool.calls, [("recycle", 3), ("kill", 2, True), ("kill", 4, False)])
        self.assertEqual(self.client.json("kill 3 --json")["workerId"], 3)

    def test_forceGoesWithNow(self) -> None:
        """C{--force} without C{--now} is refused before the pool is asked."""
        self.assertEqual(
            self.client.send("kill 3 --force"),
            ["error: --force goes with --now (a plain kill never lowers capacity)"],
        )
        self.assertEqual(self.pool.calls, [])

    def test_killErrors(self) -> None:
        """Unknown ids (the pool's own message), bad ids and bad arguments each answer one error."""
        client = self.client
        self.assertEqual(client.send("kill 99"), ["error: worker 99 does not exist"])
        self.assertEqual(client.send("kill 99 --now"), ["error: worker 99 does not exist"])
        self.assertEqual(
            client.send("kill three"), ["error: worker id must be an integer, not 'three'"]
        )
        self.assertEqual(client.send("kill"), ["error: usage: kill ID [--now] [--force]"])
        self.assertEqual(
            client.send("kill 3 --gently"), ["error: usage: kill ID [--now] [--force]"]
        )
        self.assertEqual(self.pool.calls, [])

    def test_scaleAndPoolErrorPassthrough(self) -> None:
        """C{scale N} sets the target; the pool's refusal comes back as its message."""
        self.assertEqual(self.client.send("scale 5"), ["ok"])
        self.assertEqual(self.pool.target, 5)
        self.assertEqual(
            self.client.send("scale 0"), ["error: the pool size must be between 1 and 1024, not 0"]
        )
        self.assertEqual(
            self.client.json("scale 3 --json"), {"ok": True, "version": 1, "target": 3}
        )

    def test_reload(self) -> None:
        """C{reload} asks the pool for a rolling restart; the JSON reply has no more fields."""
        self.assertEqual(self.client.json("reload --json"), {"ok": True, "version": 1})
        self.assertEqual(self.pool.calls, [("reload",)])

    def test_tTL(self) -> None:
        """C{ttl MIN:MAX} and C{ttl off} set the pool's TTL; C{ttl} shows it; bad input errs."""
        client, pool = self.client, self.pool
        self.assertEqual(client.send("ttl"), ["ttl 60:120", "ok"])
        self.assertEqual(client.send("ttl 5:10"), ["ttl 5:10", "ok"])
        self.assertEqual(pool.ttl, TTLRange(5, 10))
        self.assertEqual(client.json("ttl --json")["ttl"], {"min": 5, "max": 10})
        self.assertEqual(client.send("ttl off"), ["ttl off", "ok"])
        self.assertIsNone(pool.ttl)
        [error] = client.send("ttl 10:5")
        self.assertEqual(error, "error: need finite 0 <= MIN <= MAX, got '10:5'")
        self.assertEqual(client.send("ttl x")[0][:25], "error: expected MIN:MAX i")
        self.assertIsNone(pool.ttl)
        self.assertEqual(pool.calls, [("setTTL", TTLRange(5, 10)), ("setTTL", None)])
