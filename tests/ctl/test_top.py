"""Tests of L{recycler.ctl.top}: samples, rates and the frame."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from recycler.ctl.session import Refused
from recycler.ctl.top import Sample, duration, frame, rates, table, takeSample
from tests.ctl.support import SessionTestCase

MIB = 1024 * 1024


def worker(workerId: int, served: int, **fields: Any) -> dict[str, Any]:
    row = {
        "id": workerId,
        "pid": 100 + workerId,
        "state": "ready",
        "age": 12.34,
        "ttlLeft": 3.0,
        "served": served,
        "inFlight": 1,
        "rssBytes": 30 * MIB,
        "reason": None,
    }
    return {**row, **fields}


def sample(at: float, served: int, *workers: dict[str, Any], **listing: Any) -> Sample:
    return Sample(at, {"target": 2, "workers": list(workers), **listing}, served)


class RatesTests(SynchronousTestCase):
    """Requests a second from two samples."""

    def test_perWorkerAndPool(self) -> None:
        """A worker in both samples gets its growth over the time between; the pool its total's."""
        before = sample(10.0, 1000, worker(1, 100), worker(2, 50))
        after = sample(12.0, 1090, worker(2, 70), worker(3, 5))
        self.assertEqual(rates(after, before), ({2: 10.0}, 45.0))

    def test_firstSample(self) -> None:
        """Without an earlier sample there is no rate."""
        self.assertEqual(rates(sample(1.0, 0, worker(1, 5)), None), ({}, None))


class FrameTests(SynchronousTestCase):
    """One screenful."""

    def test_frame(self) -> None:
        """Heading, counts, fork server, then a row per worker with every column."""
        before = sample(0.0, 0, worker(7, 0))
        forkServer = {"pid": 99, "ready": True, "restarts": 1, "failure": None}
        after = sample(
            1.0,
            30,
            worker(7, 20),
            worker(8, 0, state="starting", pid=None, ttlLeft=None, rssBytes=None),
            forkServer=forkServer,
            backoff={"streak": 2, "nextAttemptIn": 1.5},
        )
        lines = frame(after, before, "recycler 127.0.0.1:10081")
        self.assertEqual(
            lines,
            [
                "recycler 127.0.0.1:10081",
                "target 2, 2 live (1 starting, 1 ready, 0 draining); 30.0 req/s, 30 served",
                "fork server: pid 99, ready, 1 restarts",
                "backoff: 2 failed starts in a row",
                "",
                "ID  PID  STATE      AGE  TTL  REQ/S  INFLIGHT  RSS(MiB)  SERVED  REASON",
                " 7  107  ready     12.3  3.0   20.0         1      30.0      20  -",
                " 8    -  starting  12.3    -      -         1         -       0  -",
            ],
        )

    def test_duration(self) -> None:
        """Seconds, then minutes, then hours."""
        self.assertEqual([duration(s) for s in (5.25, 1505, 7500)], ["5.2", "25m05s", "2h05m"])

    def test_table(self) -> None:
        """Numbers (and their headers) right-aligned, text left-aligned, no trailing spaces."""
        self.assertEqual(
            table(("N", "TEXT"), [("10", "a"), ("2", "")], (1,)), [" N  TEXT", "10  a", " 2"]
        )


class TakeSampleTests(SessionTestCase):
    """A sample is list and stats in JSON."""

    def test_sample(self) -> None:
        """Both are asked for with --json; the stats give the pool's served total."""
        self.port.script(
            '{"ok":true,"version":1,"target":1,"workers":[]}\n',
            '{"ok":true,"version":1,"stats":{"served":42}}\n',
        )
        taken = takeSample(self.session, lambda: 5.0)
        self.assertEqual((taken.at, taken.served, taken.listing["target"]), (5.0, 42, 1))
        self.assertEqual(self.port.received(), b"list --json\nstats --json\n")

    def test_error(self) -> None:
        """An error reply is L{Refused}."""
        self.port.script('{"ok":false,"version":1,"error":"authentication required"}\n')
        self.assertRaises(Refused, takeSample, self.session, lambda: 0.0)
