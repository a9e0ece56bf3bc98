"""Tests of L{recycler.master.handle}: one worker's life, without a pool."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import Any

from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.logger import LogLevel
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from recycler import wire
from recycler.master import handle
from recycler.master.events import StopReason, WorkerEvent
from recycler.master.handle import PIPE_LINGER, STACK_DUMP_WAIT, WorkerHandle
from recycler.master.lifecycle import TRANSITIONS, IllegalTransition, Input, WorkerState
from recycler.master.pipes import MAX_LINE, Lines
from recycler.master.triggers import (
    BootDeadline,
    Heartbeat,
    MemoryLimit,
    RequestLimit,
    TimeToLive,
    Trigger,
)
from recycler.testing import FakeProcess, FakeProcessReactor

GRACE = 10.0


class RecordingPool:
    """A pool that only writes down what its worker tells it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.exited: list[WorkerState] = []

    def workerReady(self, worker: WorkerHandle) -> None:
        self.calls.append(("ready", worker.workerId))

    def workerWantsRecycling(self, worker: WorkerHandle, reason: StopReason) -> None:
        self.calls.append(("recycle", reason))

    def workerEnded(self, worker: WorkerHandle) -> None:
        self.calls.append(("ended", worker.state))

    def workerExited(self, worker: WorkerHandle) -> None:
        """Not (yet) part of L{PoolCallbacks}: the fix proposed for a replacement at exit."""
        self.exited.append(worker.state)


class TracedHandle(WorkerHandle):
    """
    A handle that writes down every change of its C{state} and C{stopReason},
    and whether it happened inside C{_enter}.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.changes: list[tuple[str, object, object, bool]] = []
        self.entering = False
        super().__init__(*args, **kwargs)

    def _enter(self, happened: Input, reason: StopReason | None = None) -> None:
        self.entering = True
        try:
            super()._enter(happened, reason)
        finally:
            self.entering = False

    def __setattr__(self, name: str, value: object) -> None:
        if name in ("state", "stopReason") and name in self.__dict__:
            old = self.__dict__[name]
            if old is not value:
                self.changes.append((name, old, value, self.entering))
        super().__setattr__(name, value)


class HandleTestCase(SynchronousTestCase):
    """A fake process reactor, a recording pool, and the handle's events."""

    def setUp(self) -> None:
        self.reactor = FakeProcessReactor()
        self.pool = RecordingPool()
        self.events: list[dict[str, Any]] = []

    def spawn(self, *triggers: Trigger, grace: float = GRACE) -> tuple[TracedHandle, FakeProcess]:
        worker = TracedHandle(1, self.reactor, self.pool, triggers, grace, self.events.append)
        process = self.reactor.spawnProcess(
            worker, "/py", ["/py", "-m", "recycler.worker"], childFDs={}
        )
        return worker, process

    def ready(self, *triggers: Trigger, grace: float = GRACE) -> tuple[TracedHandle, FakeProcess]:
        worker, process = self.spawn(*triggers, grace=grace)
        process.send(wire.Event.READY)
        return worker, process

    def kinds(self) -> list[str]:
        """The lifecycle events the handle logged, in order."""
        return [e["event"] for e in self.events if "event" in e]

    def lifecycle(self, kind: WorkerEvent) -> dict[str, Any]:
        [event] = [e for e in self.events if e.get("event") == kind]
        return event

    def lines(self) -> list[tuple[str, str]]:
        """Output lines relayed to the log, as (stream, line)."""
        return [(e["stream"], e["line"]) for e in self.events if "stream" in e]

    def assertLegalLife(self, worker: TracedHandle) -> None:
        """Every state change followed a row of the table, inside C{_enter}."""
        self.assertTrue(worker.changes)
        for name, old, new, entering in worker.changes:
            self.assertTrue(entering, f"{name} changed outside _enter: {old} -> {new}")
            if name == "state":
                rows = [key for key, after in TRANSITIONS.items() if key[0] is old and after is new]
                self.assertTrue(rows, f"no transition {old} -> {new}")


class TransitionTests(HandleTestCase):
    """The state and the stop reason move only through L{WorkerHandle._enter} and the table."""

    def setUp(self) -> None:
        super().setUp()
        self.inputs: list[tuple[WorkerState, Input, WorkerState]] = []
        original = handle.nextState

        def recording(state: WorkerState, happened: Input) -> WorkerState:
            after = original(state, happened)
            self.inputs.append((state, happened, after))
            return after

        self.patch(handle, "nextState", recording)

    def states(self, worker: TracedHandle) -> list[object]:
        return [new for name, _, new, _ in worker.changes if name == "state"]

    def test_recycled(self) -> None:
        """Ready, retiring, draining, gone, exited: every step a row of the table."""
        worker, process = self.ready()
        worker.retire(StopReason.TTL)
        worker.drain(StopReason.TTL)
        process.exit(0)
        self.assertLegalLife(worker)
        self.assertEqual(
            self.states(worker),
            [
                WorkerState.READY,
                WorkerState.RETIRING,
                WorkerState.DRAINING,
                WorkerState.GONE,
                WorkerState.EXITED,
            ],
        )
        self.assertEqual(
            [happened for _, happened, _ in self.inputs],
            [Input.READY, Input.RETIRE, Input.DRAIN, Input.PROCESS_EXITED, Input.ENDED],
        )
        self.assertEqual(worker.stopReason, StopReason.TTL)
        self.assertIs(worker.endedIn, WorkerState.DRAINING)
        self.assertTrue(worker.wasStopped)

    def test_drainedWhileStartingThenKilledAtGrace(self) -> None:
        """A starting worker may be drained; the grace deadline then kills it."""
        worker, _process = self.spawn()
        worker.drain(StopReason.SCALE)
        self.reactor.advance(GRACE)
        self.assertLegalLife(worker)
        self.assertEqual(
            self.states(worker),
            [WorkerState.DRAINING, WorkerState.KILLED, WorkerState.GONE, WorkerState.EXITED],
        )
        self.assertIs(worker.endedIn, WorkerState.KILLED)

    def test_diesOnItsOwn(self) -> None:
        """A ready worker that exits by itself was not stopped and has no reason."""
        worker, process = self.ready()
        process.exit(1)
        self.assertLegalLife(worker)
        self.assertIs(worker.endedIn, WorkerState.READY)
        self.assertFalse(worker.wasStopped)
        self.assertIsNone(worker.stopReason)
        self.assertEqual(self.pool.calls, [("ready", 1), ("ended", WorkerState.EXITED)])

    def test_lateRequestsAreNoOps(self) -> None:
        """Drain or kill once stopping or gone change nothing and raise nothing."""
        worker, process = self.ready()
        worker.drain(StopReason.TTL)
        worker.drain(StopReason.SCALE)
        self.assertEqual(process.commands(), ["drain"])
        process.exit(0)
        before = list(worker.changes)
        worker.drain(StopReason.STOP)
        worker.kill(StopReason.KILL)
        self.assertEqual(worker.changes, before)
        self.assertIs(worker.state, WorkerState.EXITED)
        self.assertEqual(process.signals, [])

    def test_retireIsOnlyForAReadyWorker(self) -> None:
        """Retiring a worker that is not ready is a bug in the pool: it raises."""
        worker, _process = self.spawn()
        self.assertRaises(IllegalTransition, worker.retire, StopReason.TTL)
        self.assertIs(worker.state, WorkerState.STARTING)
        self.assertIsNone(worker.stopReason)

    def test_secondReadyIsIgnored(self) -> None:
        """A worker that reports ready twice is ready once."""
        _worker, process = self.ready()
        process.send(wire.Event.READY)
        self.assertEqual(self.kinds(), [WorkerEvent.BORN, WorkerEvent.READY])
        self.assertEqual(self.pool.calls, [("ready", 1)])

    def test_firstReasonSticks(self) -> None:
        """A planned reason is not replaced by a later one, nor by an operator's kill."""
        worker, _process = self.ready()
        worker.retire(StopReason.TTL)
        worker.drain(StopReason.SCALE)
        self.assertEqual(worker.stopReason, StopReason.TTL)
        worker.kill(StopReason.KILL)
        self.assertEqual(worker.stopReason, StopReason.TTL)
        self.assertLegalLife(worker)

    def test_hungKillOverridesAPlannedReason(self) -> None:
        """A retiring worker that stops sending heartbeats is killed as hung."""
        worker, process = self.ready(Heartbeat(self.reactor, 5))
        worker.retire(StopReason.TTL)
        self.reactor.advance(5)
        self.assertEqual(process.signals, ["USR2"])
        self.reactor.advance(STACK_DUMP_WAIT)
        self.assertEqual(process.signals, ["USR2", "KILL"])
        self.assertEqual(worker.stopReason, StopReason.HUNG)
        self.assertEqual(self.lifecycle(WorkerEvent.KILLED)["why"], StopReason.HUNG)
        self.assertEqual(self.lifecycle(WorkerEvent.EXITED)["reason"], StopReason.HUNG)
        self.assertNotIn("recycle", [call for call, _ in self.pool.calls])
        self.assertLegalLife(worker)

    def test_aHungWorkerThatExitsMeanwhileIsNotKilledAgain(self) -> None:
        """SIGUSR2 first (a dump of its stacks); a worker that exits meanwhile gets no SIGKILL."""
        worker, process = self.ready(Heartbeat(self.reactor, 5))
        self.reactor.advance(5)
        process.exit(signal=signal.SIGTERM)
        self.reactor.advance(STACK_DUMP_WAIT + PIPE_LINGER)
        self.assertEqual(process.signals, ["USR2"])
        self.assertEqual(worker.exitDescription(), f"signal {int(signal.SIGTERM)}")
        self.assertEqual(self.lifecycle(WorkerEvent.EXITED)["reason"], StopReason.HUNG)

    def test_graceDeadlineKillsButKeepsTheReason(self) -> None:
        """A worker still draining at its grace is killed; why it was stopped stays."""
        worker, process = self.ready()
        worker.drain(StopReason.TTL)
        self.reactor.advance(GRACE - 0.5)
        self.assertEqual(process.signals, [])
        self.reactor.advance(0.5)
        self.assertEqual(process.signals, ["KILL"])
        self.assertEqual(worker.stopReason, StopReason.TTL)
        self.assertEqual(self.lifecycle(WorkerEvent.KILLED)["why"], StopReason.GRACE_EXPIRED)
        self.assertEqual(self.lifecycle(WorkerEvent.KILLED)["log_level"], LogLevel.warn)
        self.assertTrue(worker.killed)
        self.assertEqual(worker.exitDescription(), f"signal {int(signal.SIGKILL)}")
        self.assertLegalLife(worker)


class TriggerTests(HandleTestCase):
    """The handle arms its triggers and acts on them."""

    def test_plannedTriggerAsksThePool(self) -> None:
        """A planned trigger (TTL) asks the pool; the worker keeps serving meanwhile."""
        worker, process = self.ready(TimeToLive(self.reactor, 3))
        self.assertEqual(worker.ttl, 3)
        self.assertEqual(worker.ttlLeft(self.reactor.seconds()), 3)
        self.reactor.advance(3)
        self.assertEqual(self.pool.calls, [("ready", 1), ("recycle", StopReason.TTL)])
        self.assertIs(worker.state, WorkerState.READY)
        self.assertEqual(process.commands(), [])

    def test_requestLimitAsksThePool(self) -> None:
        """Status messages reach the request limit, which asks the pool."""
        _worker, process = self.ready(RequestLimit(10))
        process.send(wire.Event.STATUS, served=9, inFlight=1)
        process.send(wire.Event.STATUS, served=10, inFlight=0)
        self.assertEqual(self.pool.calls[-1], ("recycle", StopReason.MAX_REQUESTS))
        self.assertEqual(self.lifecycle(WorkerEvent.BORN)["maxRequests"], 10)

    def test_bootTimeoutKills(self) -> None:
        """A worker not ready by its boot deadline is killed at once."""
        worker, process = self.spawn(BootDeadline(self.reactor, 60))
        self.reactor.advance(60)
        self.assertEqual(process.signals, ["KILL"])
        self.assertEqual(worker.stopReason, StopReason.BOOT_TIMEOUT)
        self.assertIsNone(worker.readyAt)
        self.assertEqual(self.pool.calls, [("ended", WorkerState.EXITED)])

    def test_stoppingDisarmsEveryTrigger(self) -> None:
        """Once draining, no trigger fires: only the grace deadline is pending."""
        worker, process = self.ready(
            Heartbeat(self.reactor, 5),
            TimeToLive(self.reactor, 3),
            MemoryLimit(self.reactor, 1, 1, lambda pid: 100),
            RequestLimit(1),
        )
        worker.drain(StopReason.SCALE)
        self.assertEqual(len(self.reactor.getDelayedCalls()), 1)
        process.send(wire.Event.STATUS, served=5, inFlight=0)
        self.reactor.advance(GRACE - 1)
        self.assertEqual(self.pool.calls, [("ready", 1)])
        self.assertEqual(process.signals, [])

    def test_triggersArmedAtSpawn(self) -> None:
        """The born event tells the TTL drawn; the boot deadline counts from the spawn."""
        worker, process = self.spawn(BootDeadline(self.reactor, 60), TimeToLive(self.reactor, 3))
        born = self.lifecycle(WorkerEvent.BORN)
        self.assertEqual((born["ttl"], born["ttlSeconds"]), ("3.000s", 3))
        self.assertEqual(born["pid"], process.pid)
        self.assertEqual(len(self.reactor.getDelayedCalls()), 1)
        self.assertIsNone(worker.ttlLeft(self.reactor.seconds()), "TTL counts from ready")

    def test_noTTL(self) -> None:
        """Without a TTL trigger, the worker's TTL is off."""
        worker, _process = self.ready()
        self.assertIsNone(worker.ttl)
        self.assertIsNone(worker.ttlLeft(self.reactor.seconds()))
        self.assertEqual(self.lifecycle(WorkerEvent.BORN)["ttl"], "off")


class ExitTests(HandleTestCase):
    """Once its process has exited, a worker is never signalled and leaves no timer."""

    def allTriggers(self) -> Sequence[Trigger]:
        return (
            BootDeadline(self.reactor, 60),
            Heartbeat(self.reactor, 5),
            TimeToLive(self.reactor, 3),
            MemoryLimit(self.reactor, 1, 1, lambda pid: 100),
            RequestLimit(100),
        )

    def test_exitCancelsEveryTimer(self) -> None:
        """processExited then processEnded leave no delayed call behind."""
        worker, process = self.ready(*self.allTriggers())
        worker.drain(StopReason.TTL)
        process.exit(0)
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.assertEqual(self.pool.calls, [("ready", 1), ("ended", WorkerState.EXITED)])

    def test_exitWhileReadyCancelsEveryTimer(self) -> None:
        """A ready worker with every trigger armed that dies leaves no delayed call."""
        _worker, process = self.ready(*self.allTriggers())
        self.assertTrue(self.reactor.getDelayedCalls())
        process.exit(1)
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.reactor.advance(1000)
        self.assertEqual(self.pool.calls, [("ready", 1), ("ended", WorkerState.EXITED)])

    def test_neverSignalledOnceExited(self) -> None:
        """
        Between processExited and processEnded (a subprocess holds its pipes)
        nothing signals the pid, which may already be someone else's.
        """
        worker, process = self.ready(*self.allTriggers())
        worker.drain(StopReason.TTL)
        worker.processExited(Failure(ProcessDone(0)))
        self.assertIs(worker.state, WorkerState.GONE)
        self.assertFalse(worker.state.signallable)
        worker.kill(StopReason.KILL)
        worker.drain(StopReason.STOP)
        self.reactor.advance(GRACE * 10)
        self.assertEqual(process.signals, [])
        self.assertEqual(process.commands(), ["drain"])
        self.assertEqual(self.kinds().count(WorkerEvent.KILLED), 0)

    def test_pipesClosedAfterALinger(self) -> None:
        """
        Every pipe of an exited process is closed a moment later if still
        open, the command pipe too: Twisted calls processEnded only once all
        of them, writers included, are closed.
        """
        worker, process = self.ready(*self.allTriggers())
        worker.processExited(Failure(ProcessDone(0)))
        self.assertEqual([call.getTime() for call in self.reactor.getDelayedCalls()], [1.0])
        self.reactor.advance(PIPE_LINGER - 0.5)
        self.assertEqual(process.closedFDs, [0])
        self.reactor.advance(0.5)
        self.assertEqual(sorted(process.closedFDs), [0, 1, 2, wire.COMMAND_FD, wire.EVENT_FD])
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        worker.processEnded(Failure(ProcessDone(0)))
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.assertIs(worker.state, WorkerState.EXITED)

    def test_endedBeforeTheLingerCancelsIt(self) -> None:
        """processEnded cancels the pending pipe close."""
        worker, process = self.ready()
        worker.processExited(Failure(ProcessDone(0)))
        self.assertEqual(len(self.reactor.getDelayedCalls()), 1)
        worker.processEnded(Failure(ProcessDone(0)))
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.reactor.advance(PIPE_LINGER)
        self.assertEqual(process.closedFDs, [0])

    def test_killRacingTheExit(self) -> None:
        """A SIGKILL that finds the process already reaped is not an error."""
        worker, process = self.ready()

        def exitedAlready(signalID: object) -> None:
            raise ProcessExitedAlready()

        process.signalProcess = exitedAlready
        worker.kill(StopReason.KILL)
        self.assertIs(worker.state, WorkerState.KILLED)
        process.exit(signal=signal.SIGKILL)
        self.assertIs(worker.state, WorkerState.EXITED)

    def test_exitStatus(self) -> None:
        """The exit code, and the failure the worker reported, describe its end."""
        worker, process = self.spawn()
        process.send(wire.Event.FAILED, reason="cannot import 'x'", traceback="Traceback...")
        process.exit(3)
        self.assertEqual(worker.exitCode, 3)
        self.assertIsNone(worker.exitSignal)
        self.assertEqual(worker.exitDescription(), "exit code 3: cannot import 'x'")
        self.assertEqual(worker.failureTraceback, "Traceback...")
        exited = self.lifecycle(WorkerEvent.EXITED)
        self.assertEqual((exited["exitCode"], exited["served"]), (3, 0))
        self.assertEqual(exited["failure"], "cannot import 'x'")
        self.assertIsNone(exited["reason"])
        self.assertNotIn("cannot import", exited["log_format"].format(**exited), "logged once")

    def test_exitStatusBySignal(self) -> None:
        """A worker ended by a signal says which."""
        worker, _process = self.ready()
        worker.processExited(Failure(ProcessTerminated(signal=11)))
        worker.processEnded(Failure(ProcessTerminated(signal=11)))
        self.assertEqual(worker.exitDescription(), "signal 11")
        self.assertFalse(worker.killed)


class PipeTests(HandleTestCase):
    """What the handle reads from its worker's pipes and writes to them."""

    def test_stdinClosedOnConnect(self) -> None:
        """The master closes the worker's stdin as soon as it is spawned."""
        worker, process = self.spawn()
        self.assertEqual(process.closedFDs, [0])
        self.assertEqual(worker.pid, process.pid)

    def test_drainIsWrittenToTheCommandPipe(self) -> None:
        """Draining writes one drain command on fd 3 and logs why."""
        worker, process = self.ready()
        process.send(wire.Event.STATUS, served=3, inFlight=2)
        worker.drain(StopReason.TTL)
        self.assertEqual(process.written, {wire.COMMAND_FD: wire.encode(wire.Command.DRAIN)})
        draining = self.lifecycle(WorkerEvent.DRAINING)
        self.assertEqual((draining["reason"], draining["inFlight"]), (StopReason.TTL, 2))

    def test_drainWithAClosedCommandPipe(self) -> None:
        """A worker whose command pipe is closed is still drained (and killed at grace)."""
        worker, process = self.ready()

        def closed(childFD: int, data: bytes) -> None:
            raise OSError("EPIPE")

        process.writeToChild = closed
        worker.drain(StopReason.TTL)
        self.assertIs(worker.state, WorkerState.DRAINING)
        self.reactor.advance(GRACE)
        self.assertEqual(process.signals, ["KILL"])

    def test_statusUpdatesCounters(self) -> None:
        """Status messages set served and in flight; malformed ones are ignored."""
        worker, process = self.ready()
        process.send(wire.Event.STATUS, served=12, inFlight=3)
        process.send(wire.Event.STATUS, served="many", inFlight=1)
        process.send(wire.Event.STATUS)
        self.assertEqual((worker.served, worker.inFlight), (12, 3))

    def test_malformedEventLineIsLoggedAndIgnored(self) -> None:
        """A line that is not a message is logged as a warning and changes nothing."""
        worker, process = self.spawn()
        for line in [b"not json", b"[1]", b'{"kind": 5}', b"\xff\xfe", b'{"served": 1}']:
            process.output(line + b"\n", fd=wire.EVENT_FD)
        warnings = [e for e in self.events if e["log_level"] is LogLevel.warn]
        self.assertEqual(len(warnings), 5)
        self.assertEqual(warnings[0]["line"], b"not json")
        self.assertEqual(warnings[0]["workerId"], 1)
        self.assertIs(worker.state, WorkerState.STARTING)
        process.send(wire.Event.READY)
        self.assertIs(worker.state, WorkerState.READY)

    def test_outputIsRelayedWithTheWorkerId(self) -> None:
        """stdout and stderr lines are logged with the worker id and the stream."""
        _worker, process = self.spawn()
        process.output(b"hello\r\nwor")
        process.output(b"ld\n", fd=2)
        process.output(b"ld\n\xff\n")
        self.assertEqual(
            self.lines(),
            [("stdout", "hello"), ("stderr", "ld"), ("stdout", "world"), ("stdout", "\ufffd")],
        )
        self.assertEqual({e["workerId"] for e in self.events if "stream" in e}, {1})

    def test_lastLineWithoutNewlineIsFlushedAtExit(self) -> None:
        """A last line without a newline is relayed when the process ends."""
        _worker, process = self.spawn()
        process.output(b"hello\npartial", fd=2)
        process.output(b"out")
        self.assertEqual(self.lines(), [("stderr", "hello")])
        process.exit(1)
        self.assertEqual(
            self.lines(), [("stderr", "hello"), ("stdout", "out"), ("stderr", "partial")]
        )

    def test_overLongLineIsHandedOverInPieces(self) -> None:
        """
        A line longer than 64 KiB is relayed in pieces of at most 64 KiB, and
        the lines after it, in the same read, are relayed too.
        """
        _worker, process = self.spawn()
        process.output(b"x" * (2 * MAX_LINE + 10) + b"\nnext\ntail")
        process.exit(0)
        self.assertEqual([len(line) for _, line in self.lines()], [MAX_LINE, MAX_LINE, 10, 4, 4])
        self.assertEqual(self.lines()[3:], [("stdout", "next"), ("stdout", "tail")])

    def test_overLongStreamIsHandedOverInPieces(self) -> None:
        """A worker that never writes a newline cannot grow the master's buffer past 64 KiB."""
        _worker, process = self.spawn()
        data = bytes(range(97, 123)) * 10_000
        for start in range(0, len(data), 1000):
            process.output(data[start : start + 1000])
        process.output(b"\nnext\n")
        lines = [line for _, line in self.lines()]
        self.assertEqual(lines[-1], "next")
        self.assertEqual("".join(lines[:-1]), data.decode())
        self.assertLessEqual(max(len(line) for line in lines), MAX_LINE)


class LinesTests(SynchronousTestCase):
    """L{Lines} cuts one pipe into lines."""

    def setUp(self) -> None:
        self.received: list[bytes] = []
        self.lines = Lines(self.received.append)

    def test_splitsOnNewlines(self) -> None:
        """Lines are handed over without their newline or carriage return."""
        self.lines.dataReceived(b"a\r\nb\n\nc")
        self.assertEqual(self.received, [b"a", b"b", b""])
        self.lines.flush()
        self.assertEqual(self.received, [b"a", b"b", b"", b"c"])
        self.lines.flush()
        self.assertEqual(len(self.received), 4)

    def test_longLineThenMore(self) -> None:
        """Nothing after an over-long line is lost."""
        self.lines.dataReceived(b"y" * (MAX_LINE + 1) + b"\nz\npartial")
        self.lines.flush()
        self.assertEqual(
            [(len(line), line[:1]) for line in self.received],
            [(MAX_LINE, b"y"), (1, b"y"), (1, b"z"), (7, b"p")],
        )
