"""Tests of L{recycler.master.triggers}: each reason to stop a worker, alone, on a clock."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from recycler import wire
from recycler.master.events import StopReason
from recycler.master.policy import TTLRange
from recycler.master.triggers import (
    BootDeadline,
    Heartbeat,
    MemoryLimit,
    RequestLimit,
    StartupEstimate,
    TimeToLive,
    Trigger,
    TriggerConfig,
    triggersFor,
)

PID = 4242


def status(served: object, inFlight: object = 0) -> dict[str, object]:
    """A status message as the handle hands it to its triggers."""
    return {"kind": str(wire.Event.STATUS), "served": served, "inFlight": inFlight}


class ReactorTurnClock(Clock):
    """
    A clock that runs, in one L{advance}, only the calls due when it began, as
    a reactor's turn does: a call scheduled by a running call (even for now)
    waits for the next turn, after the reactor has read its file descriptors.
    """

    def advance(self, amount: float) -> None:
        self.rightNow += amount
        for call in [c for c in self.calls if c.getTime() <= self.seconds()]:
            if call in self.calls:
                self.calls.remove(call)
                call.called = 1
                call.func(*call.args, **call.kw)


class TriggerTestCase(SynchronousTestCase):
    """A clock, and a record of what the triggers under test fired."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.fired: list[StopReason] = []

    def armed(self, trigger: Trigger) -> Trigger:
        trigger.arm(self.fired.append)
        return trigger


class BootDeadlineTests(TriggerTestCase):
    """L{BootDeadline} kills a worker that is not ready in time."""

    def test_firesOnceAtTheDeadline(self) -> None:
        """It counts from C{arm} (the spawn) and fires C{BOOT_TIMEOUT} once."""
        self.armed(BootDeadline(self.clock, 60))
        self.clock.advance(59.999)
        self.assertEqual(self.fired, [])
        self.clock.advance(0.001)
        self.assertEqual(self.fired, [StopReason.BOOT_TIMEOUT])
        self.clock.advance(1000)
        self.assertEqual(self.fired, [StopReason.BOOT_TIMEOUT])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_readyDisarms(self) -> None:
        """A worker that becomes ready in time is never timed out."""
        deadline = self.armed(BootDeadline(self.clock, 60))
        self.clock.advance(30)
        deadline.ready(PID)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(1000)
        self.assertEqual(self.fired, [])

    def test_disarmCancels(self) -> None:
        """Disarming cancels the pending call."""
        deadline = self.armed(BootDeadline(self.clock, 60))
        deadline.disarm()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(1000)
        self.assertEqual(self.fired, [])

    def test_aReadyMessageReadAfterAStallCounts(self) -> None:
        """
        A master stopped past the deadline reads the worker's C{ready} (waiting
        in the pipe) in the turn after the deadline ran out: not a boot timeout.
        """
        self.clock = ReactorTurnClock()
        deadline = self.armed(BootDeadline(self.clock, 60))
        self.clock.advance(100)
        deadline.ready(PID)
        self.clock.advance(0)
        self.assertEqual(self.fired, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_notArmedNotStarted(self) -> None:
        """Nothing counts down before the worker is spawned."""
        BootDeadline(self.clock, 60)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class HeartbeatTests(TriggerTestCase):
    """L{Heartbeat} kills a ready worker that has gone silent."""

    def test_startsOnlyOnceReady(self) -> None:
        """A starting worker is judged by its boot deadline, not by its heartbeat."""
        heartbeat = self.armed(Heartbeat(self.clock, 5))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        heartbeat.heard(status(0))
        self.clock.advance(100)
        self.assertEqual(self.fired, [])
        heartbeat.ready(PID)
        self.clock.advance(5)
        self.assertEqual(self.fired, [StopReason.HUNG])

    def test_everyMessageResetsIt(self) -> None:
        """Any message counts as a heartbeat; silence for C{seconds} fires C{HUNG} once."""
        heartbeat = self.armed(Heartbeat(self.clock, 5))
        heartbeat.ready(PID)
        self.clock.advance(4)
        heartbeat.heard(status(1))
        self.clock.advance(4)
        heartbeat.heard({"kind": "something new"})
        self.clock.advance(4.75)
        self.assertEqual(self.fired, [])
        self.clock.advance(0.25)
        self.assertEqual(self.fired, [StopReason.HUNG])
        heartbeat.heard(status(2))
        self.clock.advance(100)
        self.assertEqual(self.fired, [StopReason.HUNG])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_aStoppedMasterHearsBeforeItJudges(self) -> None:
        """
        A master stopped for twice the timeout runs its overdue heartbeat
        deadline before it reads the pipes: the worker's queued status, read in
        that turn, saves it; its silence is measured again from then.
        """
        self.clock = ReactorTurnClock()
        heartbeat = self.armed(Heartbeat(self.clock, 5))
        heartbeat.ready(PID)
        self.clock.advance(10)
        heartbeat.heard(status(7))
        self.clock.advance(0)
        self.assertEqual(self.fired, [])
        self.clock.advance(4.9)
        self.assertEqual(self.fired, [])
        self.clock.advance(0.1)
        self.assertEqual(self.fired, [], "judged only after one more turn")
        self.clock.advance(0)
        self.assertEqual(self.fired, [StopReason.HUNG])

    def test_disarmCancels(self) -> None:
        """Disarming cancels the pending call; a later message does not restart it."""
        heartbeat = self.armed(Heartbeat(self.clock, 5))
        heartbeat.ready(PID)
        heartbeat.disarm()
        heartbeat.heard(status(1))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(100)
        self.assertEqual(self.fired, [])


class TimeToLiveTests(TriggerTestCase):
    """L{TimeToLive} recycles a worker some time after it became ready."""

    def test_countsFromReady(self) -> None:
        """It starts at C{ready} and fires C{TTL} once, C{seconds} later."""
        ttl = self.armed(TimeToLive(self.clock, 3))
        self.clock.advance(100)
        self.assertIsNone(ttl.left(self.clock.seconds()))
        ttl.ready(PID)
        self.assertEqual(ttl.left(self.clock.seconds()), 3)
        self.clock.advance(2.5)
        self.assertEqual(ttl.left(self.clock.seconds()), 0.5)
        self.clock.advance(0.5)
        self.assertEqual(self.fired, [StopReason.TTL])
        self.assertIsNone(ttl.left(self.clock.seconds()))
        self.clock.advance(100)
        self.assertEqual(self.fired, [StopReason.TTL])

    def test_leadStartsTheReplacementEarly(self) -> None:
        """With a lead (a start-up time) it fires that much early: the worker serves C{seconds}."""
        lead = [0.04]
        ttl = self.armed(TimeToLive(self.clock, 0.5, lambda: lead[0]))
        ttl.ready(PID)
        self.clock.advance(0.459)
        self.assertEqual(self.fired, [])
        self.clock.advance(0.001)
        self.assertEqual(self.fired, [StopReason.TTL])

    def test_leadLongerThanTheTTL(self) -> None:
        """A lead longer than the lifetime fires at once, never in the past."""
        ttl = self.armed(TimeToLive(self.clock, 0.01, lambda: 1.0))
        ttl.ready(PID)
        self.clock.advance(0)
        self.assertEqual(self.fired, [StopReason.TTL])

    def test_messagesDoNotResetIt(self) -> None:
        """Unlike the heartbeat, a lifetime is not extended by the worker's messages."""
        ttl = self.armed(TimeToLive(self.clock, 3))
        ttl.ready(PID)
        self.clock.advance(2)
        ttl.heard(status(1))
        self.clock.advance(1)
        self.assertEqual(self.fired, [StopReason.TTL])

    def test_disarmCancels(self) -> None:
        """Disarming cancels the countdown."""
        ttl = self.armed(TimeToLive(self.clock, 3))
        ttl.ready(PID)
        ttl.disarm()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertIsNone(ttl.left(self.clock.seconds()))
        self.clock.advance(100)
        self.assertEqual(self.fired, [])

    def test_disarmedBeforeReadyNeverStarts(self) -> None:
        """A worker stopped before it was ready never starts its TTL."""
        ttl = self.armed(TimeToLive(self.clock, 3))
        ttl.disarm()
        ttl.ready(PID)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class StartupEstimateTests(SynchronousTestCase):
    """L{StartupEstimate}: a moving average of spawn-to-ready times."""

    def test_movesTowardRecentStartups(self) -> None:
        """Each observation moves it a fifth of the way; unknown times are ignored."""
        estimate = StartupEstimate()
        self.assertEqual(estimate(), 0.0)
        estimate.observe(0.1)
        self.assertAlmostEqual(estimate(), 0.02)
        estimate.observe(None)
        self.assertAlmostEqual(estimate(), 0.02)
        for _ in range(50):
            estimate.observe(0.01)
        self.assertAlmostEqual(estimate(), 0.01, places=5)

    def test_disabled(self) -> None:
        """Without overlap there is no lead: the replacement starts at the TTL."""
        estimate = StartupEstimate(enabled=False)
        estimate.observe(1.0)
        self.assertEqual(estimate(), 0.0)


class RequestLimitTests(TriggerTestCase):
    """L{RequestLimit} recycles a worker that reports it served its limit."""

    def test_firesAtTheLimit(self) -> None:
        """A status reporting C{limit} requests served fires C{MAX_REQUESTS}, once."""
        limit = self.armed(RequestLimit(100))
        limit.heard(status(99))
        self.assertEqual(self.fired, [])
        limit.heard(status(100))
        self.assertEqual(self.fired, [StopReason.MAX_REQUESTS])
        limit.heard(status(150))
        self.assertEqual(self.fired, [StopReason.MAX_REQUESTS])

    def test_aboveTheLimitFiresToo(self) -> None:
        """Statuses are periodic: a count that jumps past the limit fires as well."""
        limit = self.armed(RequestLimit(100))
        limit.heard(status(130))
        self.assertEqual(self.fired, [StopReason.MAX_REQUESTS])

    def test_onlyStatusMessagesCount(self) -> None:
        """Other messages, even with a C{served} field, are not request counts."""
        limit = self.armed(RequestLimit(1))
        limit.heard({"kind": str(wire.Event.READY), "served": 10})
        limit.heard({"kind": str(wire.Event.FAILED), "served": 10})
        self.assertEqual(self.fired, [])

    def test_malformedCountsAreIgnored(self) -> None:
        """A missing or non-integer C{served} is ignored."""
        limit = self.armed(RequestLimit(1))
        limit.heard(status("many"))
        limit.heard(status(None))
        limit.heard({"kind": str(wire.Event.STATUS)})
        self.assertEqual(self.fired, [])

    def test_disarmed(self) -> None:
        """A disarmed limit never fires."""
        limit = self.armed(RequestLimit(1))
        limit.disarm()
        limit.heard(status(5))
        self.assertEqual(self.fired, [])


class MemoryLimitTests(TriggerTestCase):
    """L{MemoryLimit} recycles a worker whose memory stays over the limit."""

    def setUp(self) -> None:
        super().setUp()
        self.memory: dict[int | None, int] = {}
        self.asked: list[int | None] = []

    def memoryOf(self, pid: int | None) -> int | None:
        self.asked.append(pid)
        return self.memory.get(pid)

    def ready(self) -> MemoryLimit:
        limit = MemoryLimit(self.clock, 100, 5, self.memoryOf)
        self.armed(limit)
        limit.ready(PID)
        return limit

    def test_samplesTheWorkersPidOnceReady(self) -> None:
        """Sampling starts at C{ready}, every C{interval} seconds, on the worker's pid."""
        limit = MemoryLimit(self.clock, 100, 5, self.memoryOf)
        self.armed(limit)
        self.clock.advance(100)
        self.assertEqual(self.asked, [])
        limit.ready(PID)
        self.clock.advance(4.9)
        self.assertEqual(self.asked, [])
        self.clock.advance(0.1)
        self.assertEqual(self.asked, [PID])
        self.clock.advance(5)
        self.assertEqual(self.asked, [PID, PID])

    def test_needsTwoSamplesInARow(self) -> None:
        """One sample over the limit is forgiven; the second in a row fires C{MAX_RSS}."""
        self.ready()
        self.memory[PID] = 150
        self.clock.advance(5)
        self.assertEqual(self.fired, [])
        self.clock.advance(5)
        self.assertEqual(self.fired, [StopReason.MAX_RSS])
        self.clock.advance(100)
        self.assertEqual(self.fired, [StopReason.MAX_RSS])
        self.assertEqual(self.clock.getDelayedCalls(), [], "sampling stops once it fired")

    def test_aLowSampleResets(self) -> None:
        """A sample at or under the limit starts the count again."""
        self.ready()
        for rss in (150, 100, 150, 50, 150):
            self.memory[PID] = rss
            self.clock.advance(5)
        self.assertEqual(self.fired, [])
        self.clock.advance(5)
        self.assertEqual(self.fired, [StopReason.MAX_RSS])

    def test_anUnknownSampleResets(self) -> None:
        """A process whose memory cannot be read (it just exited) does not count."""
        self.ready()
        self.memory[PID] = 150
        self.clock.advance(5)
        del self.memory[PID]
        self.clock.advance(5)
        self.memory[PID] = 150
        self.clock.advance(5)
        self.assertEqual(self.fired, [])

    def test_disarmStopsSampling(self) -> None:
        """Disarming stops the sampling call."""
        limit = self.ready()
        self.memory[PID] = 150
        self.clock.advance(5)
        limit.disarm()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(100)
        self.assertEqual(self.fired, [])
        self.assertEqual(self.asked, [PID])

    def test_disarmBeforeReady(self) -> None:
        """Disarming a limit that never started sampling is harmless."""
        limit = MemoryLimit(self.clock, 100, 5, self.memoryOf)
        self.armed(limit)
        limit.disarm()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class TriggersForTests(SynchronousTestCase):
    """L{triggersFor} builds one worker's triggers from the pool's configuration."""

    def test_defaultsWatchBootAndHeartbeatOnly(self) -> None:
        """The defaults are neutral: no TTL, no request or memory limit."""
        config = TriggerConfig()
        self.assertIsNone(config.ttl)
        self.assertIsNone(config.maxRequests)
        self.assertIsNone(config.maxRss)
        triggers = triggersFor(config, Clock(), lambda: 0.5, lambda pid: None)
        self.assertEqual([type(t) for t in triggers], [BootDeadline, Heartbeat])
        self.assertEqual([t.seconds for t in triggers], [60.0, 30.0])

    def test_disabledTriggersAreOmitted(self) -> None:
        """L{None} turns a trigger off: it is not built at all."""
        config = TriggerConfig(heartbeatTimeout=None, bootTimeout=None)
        self.assertEqual(triggersFor(config, Clock(), lambda: 0.5, lambda pid: None), [])

    def test_everyTrigger(self) -> None:
        """With every limit set, each trigger is built with its own setting."""
        config = TriggerConfig(
            ttl=TTLRange(2, 4),
            maxRequests=100,
            maxRequestsJitter=10,
            maxRss=1000,
            rssInterval=7,
            heartbeatTimeout=5,
            bootTimeout=9,
        )
        draws = iter([0.5, 0.0])
        boot, heartbeat, ttl, requests, memory = triggersFor(
            config, Clock(), lambda: next(draws), lambda pid: None
        )
        self.assertIsInstance(boot, BootDeadline)
        self.assertEqual(boot.seconds, 9)
        self.assertIsInstance(heartbeat, Heartbeat)
        self.assertEqual(heartbeat.seconds, 5)
        self.assertIsInstance(ttl, TimeToLive)
        self.assertEqual(ttl.seconds, 3)
        self.assertIsInstance(requests, RequestLimit)
        self.assertEqual(requests.limit, 100)
        self.assertIsInstance(memory, MemoryLimit)
        self.assertEqual(memory.limit, 1000)

    def test_ttlIsDrawnFromTheRandom(self) -> None:
        """Each worker's TTL is drawn uniformly from the range with the given random."""
        config = TriggerConfig(ttl=TTLRange(2, 4), heartbeatTimeout=None, bootTimeout=None)
        drawn = [
            triggersFor(config, Clock(), lambda r=r: r, lambda pid: None)[0].seconds
            for r in (0.0, 0.25, 0.5, 0.999)
        ]
        self.assertEqual(drawn[:3], [2, 2.5, 3])
        self.assertAlmostEqual(drawn[3], 3.998)

    def test_jitterIsDrawnFromTheRandom(self) -> None:
        """The request limit is C{maxRequests} plus 0..J, uniformly, per worker."""
        config = TriggerConfig(
            maxRequests=100, maxRequestsJitter=10, heartbeatTimeout=None, bootTimeout=None
        )
        limits = [
            triggersFor(config, Clock(), lambda r=r: r, lambda pid: None)[0].limit
            for r in (0.0, 0.5, 0.999)
        ]
        self.assertEqual(limits, [100, 105, 110])

    def test_noJitter(self) -> None:
        """Without jitter every worker gets the same limit."""
        config = TriggerConfig(maxRequests=100, heartbeatTimeout=None, bootTimeout=None)
        [limit] = triggersFor(config, Clock(), lambda: 0.999, lambda pid: None)
        self.assertEqual(limit.limit, 100)

    def test_eachWorkerGetsFreshTriggers(self) -> None:
        """Two calls never share a trigger: each worker has its own timers."""
        config = TriggerConfig(ttl=TTLRange(1, 1), maxRequests=1, maxRss=1)
        first = triggersFor(config, Clock(), lambda: 0, lambda pid: None)
        second = triggersFor(config, Clock(), lambda: 0, lambda pid: None)
        self.assertEqual(len(first), 5)
        self.assertFalse({id(t) for t in first} & {id(t) for t in second})

    def test_memoryLimitReadsTheGivenSampler(self) -> None:
        """The memory trigger samples with the C{memoryOf} it was given."""
        clock = Clock()
        asked: list[int | None] = []

        def memoryOf(pid: int | None) -> int | None:
            asked.append(pid)
            return None

        config = TriggerConfig(maxRss=1, rssInterval=2, heartbeatTimeout=None, bootTimeout=None)
        [memory] = triggersFor(config, clock, lambda: 0, memoryOf)
        memory.arm(lambda reason: None)
        memory.ready(PID)
        clock.advance(2)
        self.assertEqual(asked, [PID])
