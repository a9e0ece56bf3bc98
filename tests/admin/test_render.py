"""Tests of L{recycler.admin.render}: values, event lines, watch fields, JSON lines."""

from __future__ import annotations

from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase

from recycler.admin import render
from recycler.master.events import StopReason, WorkerEvent


class ValueTests(SynchronousTestCase):
    """Numbers, times and free text as one line each."""

    def test_eventTextQuotesAwkwardValues(self) -> None:
        """Event values with spaces, quotes or newlines are quoted, so an event is one line."""
        line = render.eventText({"event": "exited", "workerId": 1, "why": 'a "b"\nc', "x": True})
        self.assertEqual(line, 'exited worker=1 why="a \\"b\\"\\nc" x=true')
        self.assertEqual(render.jsonLine({"t": float("nan")}), '{"t":null}')

    def test_formatNumber(self) -> None:
        """At most three decimals, no trailing zeros, integers as they are."""
        self.assertEqual(render.formatNumber(2.1000), "2.1")
        self.assertEqual(render.formatNumber(30.0), "30")
        self.assertEqual(render.formatNumber(-0.0001), "0")
        self.assertEqual(render.formatNumber(300), "300")

    def test_formatTime(self) -> None:
        """A log time is ISO 8601 UTC to the millisecond."""
        self.assertEqual(render.formatTime(1700000000.123), "2023-11-14T22:13:20.123Z")
        self.assertEqual(render.formatTime(0), "1970-01-01T00:00:00.000Z")

    def test_errorLineIsOneLine(self) -> None:
        """A message with line breaks is one C{error:} line, or one JSON object."""
        self.assertEqual(render.errorLine("a\nb  c", False), "error: a b c")
        self.assertEqual(render.errorLine("", False), "error: failed")
        self.assertEqual(render.errorLine("no", True), '{"ok":false,"version":1,"error":"no"}')

    def test_replyLines(self) -> None:
        """A reply is its lines then the closing line, or one JSON object of its data."""
        self.assertEqual(render.replyLines(["a"], "ok", {"n": 1}, False), ["a", "ok"])
        self.assertEqual(
            render.replyLines(["a"], "ok", {"n": StopReason.TTL}, True),
            ['{"ok":true,"version":1,"n":"ttl"}'],
        )


class WatchFieldsTests(SynchronousTestCase):
    """What C{watch} relays of the pool's log events."""

    def test_workerEvent(self) -> None:
        """A worker event gives its name, its time, then its own fields in order."""
        fields = render.watchFields(
            {
                "event": WorkerEvent.KILLED,
                "workerId": 3,
                "pid": 1003,
                "reason": StopReason.GRACE_EXPIRED,
                "log_time": 1700000000.12345,
                "log_level": LogLevel.warn,
                "log_format": "worker {workerId} killed",
            }
        )
        self.assertEqual(
            fields,
            {
                "event": WorkerEvent.KILLED,
                "time": 1700000000.123,
                "workerId": 3,
                "pid": 1003,
                "reason": StopReason.GRACE_EXPIRED,
            },
        )
        self.assertEqual(
            render.eventText(fields or {}),
            'killed time=2023-11-14T22:13:20.123Z worker=3 pid=1003 reason="grace expired"',
        )

    def test_everyWorkerEventKindIsRelayed(self) -> None:
        """Each L{WorkerEvent}, given as the enum or its value, is relayed."""
        for kind in WorkerEvent:
            for given in (kind, kind.value):
                fields = render.watchFields({"event": given, "log_time": 1.0})
                self.assertEqual(fields, {"event": kind, "time": 1.0})

    def test_otherEventsAreNotRelayed(self) -> None:
        """Log events without a worker event kind give L{None}."""
        for event in (
            {"log_format": "target: 2 -> 3", "log_time": 1.0},
            {"event": "admin-listening", "port": 1},
            {"event": ["unhashable"]},
            {"event": None},
        ):
            self.assertIsNone(render.watchFields(event), event)

    def test_legacyKeysAreLeftOut(self) -> None:
        """Keys a legacy observer adds in place, and our own C{time}, come from C{log_time} only."""
        fields = render.watchFields(
            {
                "event": "ready",
                "workerId": 1,
                "message": (),
                "time": 5.0,
                "system": "-",
                "format": "%(log_legacy)s",
                "isError": 0,
                "log_legacy": "x",
                "log_time": 7.0,
            }
        )
        self.assertEqual(fields, {"event": WorkerEvent.READY, "time": 7.0, "workerId": 1})
