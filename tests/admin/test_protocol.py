"""Tests of L{recycler.admin.protocol}: framing, sessions, flow control, watch, error policy."""

from __future__ import annotations

import json

from twisted.logger import LegacyLogObserverWrapper, Logger, capturedLogs

from recycler.admin.connection import ABORT_AFTER
from recycler.admin.guard import FIRST_DELAY
from recycler.admin.protocol import MAX_AUTH_FAILURES
from recycler.master.events import StopReason, WorkerEvent
from recycler.master.pool import PoolError
from tests.admin.support import AdminTestCase, Client, RecordingPublisher, makeFactory


class FramingTests(AdminTestCase):
    """One command per line, whatever the client sends."""

    def test_unknownCommand(self) -> None:
        """An unknown command answers one error line naming it."""
        self.assertEqual(
            self.client.send("frobnicate 3"), ["error: unknown command 'frobnicate' (try 'help')"]
        )

    def test_commandNamesAreCaseInsensitiveAndLFWorks(self) -> None:
        """Commands work in any case and with a bare LF (nc) as well as CRLF (telnet)."""
        self.assertEqual(self.client.send("RELOAD", end=b"\n"), ["ok"])
        self.assertEqual(self.pool.calls, [("reload",)])

    def test_emptyLineIsIgnored(self) -> None:
        """A blank line (Enter pressed in telnet) gets no answer."""
        self.assertEqual(self.client.send("   "), [])

    def test_binaryGarbageAnswersAnErrorAndTheConnectionGoesOn(self) -> None:
        """Bytes that are not UTF-8 answer C{error:}; the next command still works."""
        lines = self.client.send(b"\xff\xfe\x00\x80garbage")
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith("error: "), lines)
        self.assertFalse(self.client.closed())
        self.assertEqual(
            self.client.send(b"\x00\x01"), ["error: unknown command '??' (try 'help')"]
        )
        self.assertEqual(self.client.send("reload"), ["ok"])

    def test_oversizeLineDisconnectsAndTheFactoryServesANewClient(self) -> None:
        """A 1 MB line closes the connection after one error; a new client is served."""
        factory = makeFactory(self.pool, self.clock, maxClients=1)
        flooder = Client(factory)
        lines = flooder.send(b"x" * (1024 * 1024), end=b"")
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith("error: line too long"), lines)
        self.assertTrue(flooder.closed())
        flooder.disconnect()
        self.assertEqual(factory.clients, set())
        self.assertEqual(Client(factory).send("reload"), ["ok"])

    def test_linesAfterQuitAreIgnored(self) -> None:
        """C{quit} answers C{bye} and closes; lines sent after it are not run."""
        self.client.protocol.dataReceived(b"quit\nreload\n")
        self.assertEqual(self.client.output(), ["bye"])
        self.assertTrue(self.client.closed())
        self.assertEqual(self.pool.calls, [])


class ErrorPolicyTests(AdminTestCase):
    """Only the admin's and the pool's own refusals reach the operator as messages."""

    def assertInternalError(self, error: Exception) -> None:
        """C{error} raised by the pool is logged with its traceback and answered vaguely."""
        self.pool.failWith = error
        with capturedLogs() as events:
            lines = self.client.send("reload")
        self.assertEqual(lines, ["error: internal error (logged)"])
        [failure] = [e["log_failure"] for e in events if e.get("log_failure") is not None]
        self.assertIs(failure.value, error)
        self.assertEqual(len(self.flushLoggedErrors(type(error))), 1)
        self.assertFalse(self.client.closed())
        self.pool.failWith = None
        self.assertEqual(self.client.send("reload"), ["ok"])

    def test_unexpectedExceptionAnswersInternalError(self) -> None:
        """A bug in the pool answers C{error: internal error}, is logged, and raises nowhere."""
        self.assertInternalError(RuntimeError("boom"))

    def test_valueErrorFromThePoolIsAnInternalError(self) -> None:
        """A L{ValueError} from the pool is a bug too: its message is not the operator's."""
        self.assertInternalError(ValueError("invalid literal for int()"))

    def test_poolErrorIsTheOperatorsError(self) -> None:
        """A L{PoolError} is answered with its message, and nothing is logged as a failure."""
        self.pool.failWith = PoolError("the pool is  stopping\n(try later)")
        with capturedLogs() as events:
            lines = self.client.send("reload")
        self.assertEqual(lines, ["error: the pool is stopping (try later)"])
        self.assertEqual([e for e in events if e.get("log_failure") is not None], [])

    def test_aTokenIsNotLoggedWithAFailure(self) -> None:
        """When C{auth} fails with a bug, the log names the command but not the token."""

        def broken(token: str) -> None:
            raise RuntimeError("bug")

        self.patch(self.client.protocol, "authenticate", broken)
        with capturedLogs() as events:
            lines = self.client.send("auth hunter2")
        self.assertEqual(lines, ["error: internal error (logged)"])
        self.flushLoggedErrors(RuntimeError)
        [failure] = [e for e in events if e.get("log_failure") is not None]
        self.assertEqual(failure["command"], "auth")
        self.assertNotIn("hunter2", str([e.get("command") for e in events]))

    def test_internalErrorInJSON(self) -> None:
        """With C{--json}, the internal error is a JSON failure too."""
        self.pool.failWith = ValueError("bug")
        with capturedLogs():
            reply = self.client.json("reload --json")
        self.assertEqual(reply, {"ok": False, "version": 1, "error": "internal error (logged)"})
        self.flushLoggedErrors(ValueError)


class JSONModeTests(AdminTestCase):
    """C{json} and C{--json}: one JSON object per reply."""

    def test_jsonModeToggles(self) -> None:
        """C{json} switches every reply to one JSON object per line; C{json} again switches back."""
        client = self.client
        self.assertEqual(client.json("json"), {"ok": True, "version": 1, "json": True})
        self.assertEqual(client.json("reload"), {"ok": True, "version": 1})
        self.assertEqual(
            client.json("kill 99"), {"ok": False, "version": 1, "error": "worker 99 does not exist"}
        )
        self.assertEqual(
            client.json("nope"),
            {"ok": False, "version": 1, "error": "unknown command 'nope' (try 'help')"},
        )
        self.assertEqual(client.send("json"), ["ok"])
        self.assertEqual(client.send("reload"), ["ok"])

    def test_jsonFlagAppliesToOneCommand(self) -> None:
        """C{--json} on one command answers that command in JSON only."""
        client = self.client
        self.assertEqual(client.json("help --json")["commands"][0]["name"], "list")
        self.assertIs(client.json("kill x --json")["ok"], False)
        self.assertEqual(client.send("reload"), ["ok"])
        self.assertEqual(client.send("json maybe"), ["error: usage: json [on|off]"])
        self.assertIs(client.json("json on")["json"], True)
        self.assertIs(client.json("json on")["json"], True)


class AuthenticationTests(AdminTestCase):
    """With a token, a client must C{auth} first."""

    def setUp(self) -> None:
        super().setUp()
        self.client = Client(makeFactory(self.pool, self.clock, token="s3cret"))

    def test_tokenRequiredBeforeCommands(self) -> None:
        """With a token, commands but auth, help and quit answer 'authentication required'."""
        self.assertEqual(self.client.send("reload"), ["error: authentication required"])
        self.assertEqual(self.client.send("json"), ["error: authentication required"])
        self.assertEqual(self.client.send("help")[-1], "ok")
        self.assertEqual(self.pool.calls, [])

    def guess(self, client: Client, token: str = "guess") -> list[str]:
        """Send a wrong token; return the answer, once its delay has passed."""
        self.assertEqual(client.send(f"auth {token}"), [], "a wrong token is answered later")
        self.clock.advance(5)
        return client.output()

    def test_badTokenThenGoodToken(self) -> None:
        """A wrong token answers 'bad token'; the right one unlocks every command."""
        self.assertEqual(self.guess(self.client), ["error: bad token"])
        self.assertEqual(self.client.send("reload"), ["error: authentication required"])
        self.assertEqual(self.client.send("auth s3cret"), ["ok"])
        self.assertEqual(self.client.send("reload"), ["ok"])

    def test_tooManyBadTokensClose(self) -> None:
        """After a few wrong tokens the connection is closed."""
        for _ in range(MAX_AUTH_FAILURES - 1):
            self.guess(self.client)
        self.assertFalse(self.client.closed())
        [error] = self.guess(self.client)
        self.assertTrue(error.startswith("error: bad token"), error)
        self.assertTrue(self.client.closed())

    def test_noTokenIsCheckedWhileAWrongOnesDelayRuns(self) -> None:
        """
        A guesser that hangs up instead of waiting for its answer gains nothing:
        from its address, no token (not even the right one) is checked until
        the delay is over.
        """
        self.assertEqual(self.client.send("auth guess"), [])
        self.client.disconnect()
        again = Client(self.client.factory, port=40001)
        [refused] = again.send("auth s3cret")
        self.assertTrue(refused.startswith("error: too soon after a bad token"), refused)
        self.clock.advance(FIRST_DELAY)
        self.assertEqual(again.send("auth s3cret"), ["ok"])

    def test_wrongTokensAreAnsweredLaterAndLater(self) -> None:
        """
        The answer to a wrong token waits 0.1 s, then twice as long for each
        one from the same address, on any connection; lines sent meanwhile wait.
        """
        client, factory = self.client, self.client.factory
        client.transport.clear()
        client.protocol.dataReceived(b"auth a\nauth b\nhelp\n")
        self.clock.advance(FIRST_DELAY * 0.9)
        self.assertEqual(client.output(), [])
        self.assertEqual(client.transport.producerState, "paused", "nothing is read meanwhile")
        self.clock.advance(FIRST_DELAY * 0.2)
        self.assertEqual(client.output(), ["error: bad token"])
        self.clock.advance(2 * FIRST_DELAY * 0.9)
        self.assertEqual(client.output(), ["error: bad token"])
        self.clock.advance(2 * FIRST_DELAY * 0.2)
        self.assertEqual(client.output()[1], "error: bad token")
        self.assertEqual(client.output()[-1], "ok", "help ran once the answer was sent")
        self.assertEqual(client.transport.producerState, "producing")

        again = Client(factory, port=40001)
        again.send("auth c")
        self.clock.advance(4 * FIRST_DELAY * 0.9)
        self.assertEqual(again.output(), [], "the count outlives the connection")
        self.clock.advance(4 * FIRST_DELAY * 0.2)
        self.assertEqual(again.output(), ["error: bad token"])
        elsewhere = Client(factory, host="10.0.0.2")
        elsewhere.send("auth d")
        self.clock.advance(FIRST_DELAY)
        self.assertEqual(elsewhere.output(), ["error: bad token"], "another address: 0.1 s")

    def test_wrongTokensAreLoggedWithTheAddress(self) -> None:
        """Each wrong token is a structured warning with the client's address, not the token."""
        with capturedLogs() as events:
            self.guess(self.client, "hunter2")
        [event] = [e for e in events if e.get("event") == "admin-bad-token"]
        self.assertEqual((event["host"], event["peer"]), ("127.0.0.1", "127.0.0.1:40000"))
        self.assertEqual((event["failures"], event["delay"]), (1, FIRST_DELAY))
        self.assertNotIn("hunter2", repr(events))

    def test_aClientLeavingDuringTheDelayLeavesNoTimer(self) -> None:
        """A client that disconnects while its answer waits leaves nothing scheduled."""
        before = len(self.clock.getDelayedCalls())
        client = Client(self.client.factory)
        client.send("auth guess")
        client.disconnect()
        self.assertEqual(len(self.clock.getDelayedCalls()), before)

    def test_tokenMayLookLikeAFlag(self) -> None:
        """A token is one word whatever it looks like: C{--x} is a token, not a flag."""
        client = Client(makeFactory(self.pool, self.clock, token="--x"))
        self.assertEqual(client.send("auth --x"), ["ok"])
        self.assertEqual(client.send("reload"), ["ok"])

    def test_emptyTokenIsRefused(self) -> None:
        """A token that could never be sent (empty, with spaces) is a configuration error."""
        self.assertRaises(ValueError, makeFactory, self.pool, self.clock, token="")
        self.assertRaises(ValueError, makeFactory, self.pool, self.clock, token="two words")


class WatchTests(AdminTestCase):
    """C{watch} relays the pool's worker events."""

    def test_watchStreamsEventsUntilALine(self) -> None:
        """C{watch} streams events as lines; the next line ends it, answered C{ok}, not run."""
        client, pool = self.client, self.pool
        self.assertEqual(client.send("watch"), ["ok"])
        client.transport.clear()
        pool.emit(WorkerEvent.BORN, workerId=5, pid=1005, ttlSeconds=2.1, maxRequests=None)
        pool.emit(WorkerEvent.DRAINING, workerId=3, pid=1003, reason="exit code 1")
        self.assertEqual(
            client.output(),
            [
                "born time=2023-11-14T22:13:20.123Z worker=5 pid=1005 ttlSeconds=2.1",
                'draining time=2023-11-14T22:13:20.123Z worker=3 pid=1003 reason="exit code 1"',
            ],
        )
        self.assertEqual(client.send("reload"), ["ok"])
        self.assertEqual(pool.calls, [], "the line that ends watch is not a command")
        self.assertEqual(pool.events.observers, [])
        pool.emit(WorkerEvent.BORN, workerId=6, pid=1006)
        client.transport.clear()
        self.assertEqual(client.output(), [])

    def test_watchJSON(self) -> None:
        """C{watch --json} streams one JSON object per event, with its time and its fields."""
        client = self.client
        self.assertEqual(client.json("watch --json"), {"ok": True, "version": 1, "watching": True})
        client.transport.clear()
        self.pool.emit(WorkerEvent.EXITED, workerId=3, pid=1003, exitCode=0, reason=StopReason.TTL)
        [line] = client.output()
        self.assertEqual(
            json.loads(line),
            {
                "version": 1,
                "event": "exited",
                "time": 1700000000.123,
                "workerId": 3,
                "pid": 1003,
                "exitCode": 0,
                "reason": "ttl",
            },
        )
        self.assertEqual(client.json(""), {"ok": True, "version": 1, "watching": False})

    def test_onlyWorkerEventsAreRelayed(self) -> None:
        """The pool's other log events (and unknown kinds) are not sent to watchers."""
        self.client.send("watch")
        self.client.transport.clear()
        self.pool.emit("admin-listening", port=10081)
        self.pool.events({"log_format": "target: 2 -> 3 workers", "log_time": 1.0})
        self.pool.emit(WorkerEvent.RETIRING, workerId=3, pid=1003)
        self.assertEqual(
            self.client.output(), ["retiring time=2023-11-14T22:13:20.123Z worker=3 pid=1003"]
        )

    def test_eventsFromARealLoggerAfterALegacyObserver(self) -> None:
        """
        A L{Logger} event shows its own fields only, even after a legacy observer
        of the global log has added its keys to the event in place.
        """
        events = RecordingPublisher()
        events.addObserver(LegacyLogObserverWrapper(lambda event: None))
        self.pool.events = events
        self.client.send("watch --json")
        self.client.transport.clear()
        log = Logger(namespace="recycler.master.pool", observer=events)
        log.info("worker {workerId} ready", event=WorkerEvent.READY, workerId=3, pid=1003)
        [line] = self.client.output()
        fields = json.loads(line)
        self.assertIsInstance(fields.pop("time"), float)
        self.assertEqual(fields, {"version": 1, "event": "ready", "workerId": 3, "pid": 1003})

    def test_aBrokenEventIsLoggedNotRaisedIntoThePublisher(self) -> None:
        """An event that cannot be relayed is logged; the pool's publisher sees no exception."""

        class Unprintable:
            def __str__(self) -> str:
                raise RuntimeError("no str")

        self.client.send("watch")
        self.client.transport.clear()
        with capturedLogs() as events:
            self.pool.emit(WorkerEvent.BORN, workerId=3, pid=Unprintable())
        self.assertEqual(self.client.output(), [])
        failures = [e["log_format"] for e in events if e.get("log_failure") is not None]
        self.assertEqual(failures, ["admin: cannot relay a pool event"])
        self.flushLoggedErrors(RuntimeError)
        self.pool.emit(WorkerEvent.READY, workerId=3, pid=1003)
        self.assertEqual(len(self.client.output()), 1, "the watcher is still subscribed")

    def test_disconnectMidWatchRemovesTheObserver(self) -> None:
        """A client that vanishes while watching leaves no observer on the pool."""
        self.client.send("watch")
        self.assertEqual(len(self.pool.events.observers), 1)
        self.client.disconnect()
        self.assertEqual(self.pool.events.observers, [])

    def test_slowWatcherDropsEventsAndIsTold(self) -> None:
        """While the client does not read, events are dropped and it is told how many after."""
        client = self.client
        client.send("watch")
        client.transport.clear()
        client.transport.producer.pauseProducing()
        self.assertEqual(client.transport.producerState, "paused", "commands are not read")
        self.pool.emit(WorkerEvent.READY, workerId=5, pid=1005)
        self.pool.emit(WorkerEvent.READY, workerId=6, pid=1006)
        self.assertEqual(client.output(), [])
        client.transport.producer.resumeProducing()
        self.assertEqual(client.transport.producerState, "producing")
        self.assertEqual(client.output(), ["dropped count=2"])


class ConnectionLimitsTests(AdminTestCase):
    """How many clients, and for how long."""

    def test_connectionLimit(self) -> None:
        """Beyond maxClients, when no client is idle, the new one gets one error and is closed."""
        factory = makeFactory(self.pool, self.clock, maxClients=2)
        first, second = Client(factory), Client(factory)
        first.send("watch")
        second.send("watch")
        third = Client(factory)
        self.assertEqual(third.output(), ["error: too many admin clients"])
        self.assertTrue(third.closed())
        third.protocol.dataReceived(b"reload\n")
        third.disconnect()
        self.assertEqual(self.pool.calls, [])
        self.assertEqual(len(factory.clients), 2)
        first.disconnect()
        fourth = Client(factory)
        self.assertFalse(fourth.closed())
        self.assertEqual(fourth.send("reload"), ["ok"])

    def test_theIdlestClientMakesRoomForANewOne(self) -> None:
        """
        At the limit, the idlest client (not watching) is told and closed, and
        the new one is served: first one that never sent a line, then the one
        whose last line is oldest.
        """
        factory = makeFactory(self.pool, self.clock, maxClients=4)
        watcher, idle, recent = Client(factory), Client(factory), Client(factory)
        watcher.send("watch")
        self.clock.advance(1)
        idle.send("help")
        self.clock.advance(1)
        recent.send("help")
        self.clock.advance(1)
        silent = Client(factory)
        idle.transport.clear()
        newcomer = Client(factory)
        self.assertEqual(
            silent.output(), ["error: too many admin clients: closing this idle one for a new one"]
        )
        self.assertTrue(silent.closed())
        self.assertEqual(newcomer.send("reload"), ["ok"])
        Client(factory)
        self.assertEqual(
            idle.output(), ["error: too many admin clients: closing this idle one for a new one"]
        )
        self.assertEqual(len(factory.clients), 4)
        self.assertFalse(watcher.closed() or recent.closed() or newcomer.closed())

    def test_unauthenticatedClientsMakeRoomFirst(self) -> None:
        """With a token, a client that did not authenticate goes before an idle one that did."""
        factory = makeFactory(self.pool, self.clock, token="s3cret", maxClients=2)
        operator, lurker = Client(factory), Client(factory)
        operator.send("auth s3cret")
        self.clock.advance(1)
        lurker.send("help")
        Client(factory)
        self.assertTrue(lurker.closed())
        self.assertFalse(operator.closed())

    def test_busyUnauthenticatedClientsCannotLockANewcomerOut(self) -> None:
        """
        Unauthenticated clients that keep talking make room oldest connection
        first: a newcomer gets its turn to authenticate.
        """
        factory = makeFactory(self.pool, self.clock, token="s3cret", maxClients=2)
        busy = [Client(factory, port=40001)]
        self.clock.advance(1)
        busy.append(Client(factory, port=40002))
        busy[0].send("help")
        self.clock.advance(1)
        newcomer = Client(factory, port=40003)
        self.assertTrue(busy[0].closed())
        for client in busy[1:]:
            client.send("help")
        Client(factory, port=40004)
        self.assertTrue(busy[1].closed())
        self.assertFalse(newcomer.closed())
        self.assertEqual(newcomer.send("auth s3cret"), ["ok"])

    def test_aClientThatNeverReadsIsAborted(self) -> None:
        """A closed connection whose client never reads its last replies is aborted soon after."""
        self.client.protocol.close()
        self.assertFalse(self.client.transport.disconnected)
        self.clock.advance(ABORT_AFTER)
        self.assertTrue(self.client.transport.disconnected, "aborted")

    def test_silentClientsAreClosedSoon(self) -> None:
        """A client that sent nothing is closed after the pre-auth timeout (10 s)."""
        client = Client(makeFactory(self.pool, self.clock))
        self.clock.advance(9.9)
        self.assertFalse(client.closed())
        self.clock.advance(0.1)
        self.assertEqual(client.output(), ["error: idle for 10s, closing"])
        self.assertTrue(client.closed())

    def test_unauthenticatedClientsAreClosedSoon(self) -> None:
        """With a token, a client gets 10 s of silence before it authenticated, then 300 s."""
        factory = makeFactory(self.pool, self.clock, token="s3cret")
        lurker, operator = Client(factory), Client(factory)
        lurker.send("help")
        operator.send("auth s3cret")
        self.clock.advance(10)
        self.assertEqual(lurker.output()[-1], "error: idle for 10s without auth, closing")
        self.assertTrue(lurker.closed())
        self.clock.advance(289)
        self.assertFalse(operator.closed())
        self.clock.advance(1)
        self.assertTrue(operator.closed())

    def test_idleTimeout(self) -> None:
        """A client silent for idleTimeout seconds is disconnected; any line restarts the count."""
        client = Client(makeFactory(self.pool, self.clock, idleTimeout=300))
        client.send("help")
        self.clock.advance(299)
        client.send("reload")
        self.clock.advance(299)
        self.assertFalse(client.closed())
        client.transport.clear()
        self.clock.advance(1)
        self.assertEqual(client.output(), ["error: idle for 300s, closing"])
        self.assertTrue(client.closed())
        client.disconnect()
        self.client.disconnect()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_noIdleTimeoutWhileWatching(self) -> None:
        """A watching client is not timed out; once it stops watching the timeout is back."""
        client = Client(makeFactory(self.pool, self.clock, idleTimeout=300))
        client.send("watch")
        self.clock.advance(3600)
        self.assertFalse(client.closed())
        client.send("")
        self.clock.advance(300)
        self.assertTrue(client.closed())

    def test_disconnectCancelsTheIdleTimer(self) -> None:
        """A client that leaves leaves no timer behind."""
        self.client.disconnect()
        self.assertEqual(self.clock.getDelayedCalls(), [])
