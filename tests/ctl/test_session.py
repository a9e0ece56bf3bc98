"""Tests of L{recycler.ctl.session}: auth, JSON mode, watch, reconnecting, printing."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from recycler.ctl.session import Refused, Session, execute
from tests.ctl.support import ScriptedPort, SessionTestCase

JSON_ON = '{"ok":true,"version":1,"json":true}\n'


class SessionTests(SynchronousTestCase):
    """One command after another on one connection."""

    def setUp(self) -> None:
        self.port = ScriptedPort()
        self.addCleanup(self.port.close)

    def session(self, token: str | None = None, jsonMode: bool = False) -> Session:
        session = Session(self.port.connect, token, jsonMode)
        self.addCleanup(session.close)
        return session

    def test_authFirst(self) -> None:
        """With a token, the first line is auth; then the command and its reply."""
        self.port.script("ok\n", "ttl 0:5\nok\n")
        reply = self.session("s3cret").run(["ttl"])
        self.assertEqual(reply.lines, ("ttl 0:5", "ok"))
        self.assertEqual(self.port.received(), b"auth s3cret\nttl\n")

    def test_badToken(self) -> None:
        """A refused token raises L{Refused} with the server's line; the connection is closed."""
        self.port.script("error: bad token\n")
        session = self.session("wrong")
        with self.assertRaises(Refused) as raised:
            session.run(["list"])
        self.assertEqual(raised.exception.reply.lines, ("error: bad token",))
        self.assertIsNone(session.connection)

    def test_jsonFlagFramesOneReply(self) -> None:
        """--json on a command: that one reply is a JSON line; the next is text again."""
        self.port.script('{"ok":true,"version":1,"target":3}\n', "ttl 0:5\nok\n")
        session = self.session()
        self.assertEqual(session.run(["scale", "3", "--json"]).data["target"], 3)
        self.assertEqual(session.run(["ttl"]).lines, ("ttl 0:5", "ok"))

    def test_jsonModeIsTracked(self) -> None:
        """json on makes every reply one JSON line, until json off answers ok."""
        self.port.script(JSON_ON, '{"ok":true,"version":1,"ttl":null}\n', "ok\n", "ttl off\nok\n")
        session = self.session()
        self.assertTrue(session.run(["json", "on"]).asJSON)
        self.assertTrue(session.jsonMode)
        self.assertEqual(session.run(["ttl"]).data["ttl"], None)
        self.assertEqual(session.run(["json", "off"]).lines, ("ok",))
        self.assertFalse(session.jsonMode)
        self.assertEqual(session.run(["ttl"]).lines, ("ttl off", "ok"))

    def test_jsonSession(self) -> None:
        """A session in JSON mode turns it on once connected."""
        self.port.script(JSON_ON, '{"ok":true,"version":1}\n')
        session = self.session(jsonMode=True)
        self.assertTrue(session.run(["reload"]).asJSON)
        self.assertEqual(self.port.received(), b"json on\nreload\n")

    def test_quitCloses(self) -> None:
        """quit reads up to bye, then the connection is closed."""
        self.port.script("bye\n")
        session = self.session()
        self.assertEqual(session.run(["quit"]).lines, ("bye",))
        self.assertIsNone(session.connection)

    def test_watchUntilCtrlC(self) -> None:
        """Events are shown as they come; Ctrl-C sends a line and reads up to the closing ok."""
        self.port.script("ok\nborn worker=5\nready worker=5\n", "exited worker=4\nok\n")
        shown: list[str] = []

        def show(line: str) -> None:
            shown.append(line)
            if line.startswith("ready"):
                raise KeyboardInterrupt()

        reply = self.session().watch(["watch"], show)
        self.assertEqual(shown, ["born worker=5", "ready worker=5", "exited worker=4"])
        self.assertEqual(reply.lines, ("ok",))
        self.assertEqual(self.port.received(), b"watch\n\n")

    def test_watchInJSON(self) -> None:
        """In JSON the first and the closing replies are shown too, events in between."""
        events = ['{"ok":true,"version":1,"watching":true}', '{"version":1,"event":"born"}']
        closing = '{"ok":true,"version":1,"watching":false}'
        self.port.script("".join(line + "\n" for line in events), closing + "\n")
        shown: list[str] = []

        def show(line: str) -> None:
            shown.append(line)
            if "born" in line:
                raise KeyboardInterrupt()

        reply = self.session().watch(["watch", "--json"], show)
        self.assertEqual((shown, reply.lines), (events, (closing,)))

    def test_resumeAfterTheServerClosed(self) -> None:
        """What the server said before closing is returned; the next command reconnects."""
        session = self.session("t")
        self.port.script("ok\n", "ttl 0:5\nok\n")
        session.run(["ttl"])
        self.assertEqual(session.resume(), [])
        self.port.server.sendall(b"error: idle for 300s, closing\n")
        self.port.server.close()
        self.assertEqual(session.resume(), ["error: idle for 300s, closing"])
        self.port.script("ok\n", "ttl 0:5\nok\n")
        self.assertEqual(session.run(["ttl"]).lines, ("ttl 0:5", "ok"))
        self.assertEqual(len(self.port.servers), 2)
        self.assertEqual(self.port.received(), b"auth t\nttl\n")

    def test_typedTokenKeptForReconnecting(self) -> None:
        """A token accepted from an C{auth} command is sent first on the next connection."""
        session = self.session()
        self.port.script("ok\n")
        session.run(["auth", "typed"])
        session.close()
        self.port.script("ok\n", "ttl 0:5\nok\n")
        self.assertEqual(session.run(["ttl"]).lines, ("ttl 0:5", "ok"))
        self.assertEqual(self.port.received(), b"auth typed\nttl\n")

    def test_typedTokenWithJSONFlag(self) -> None:
        """C{auth TOKEN --json} keeps the token too."""
        session = self.session()
        self.port.script('{"ok":true,"version":1}\n')
        session.run(["auth", "typed", "--json"])
        session.close()
        self.port.script("ok\n", "ttl 0:5\nok\n")
        session.run(["ttl"])
        self.assertEqual(self.port.received(), b"auth typed\nttl\n")

    def test_refusedTokenNotKept(self) -> None:
        """A refused C{auth} changes nothing: the given token is still the one sent."""
        session = self.session("given")
        self.port.script("ok\n", "error: bad token\n")
        session.run(["auth", "wrong"])
        session.close()
        self.port.script("ok\n", "ttl 0:5\nok\n")
        session.run(["ttl"])
        self.assertEqual(self.port.received(), b"auth given\nttl\n")


class ExecuteTests(SessionTestCase):
    """What a command prints, where, and its exit status."""

    def test_dataWithoutOk(self) -> None:
        """The reply's lines go to stdout, without the closing ok; status 0."""
        self.port.script("ttl 0:5\nok\n")
        self.assertEqual(execute(self.session, ["ttl"], self.out, self.err), 0)
        self.assertEqual((self.out.getvalue(), self.err.getvalue()), ("ttl 0:5\n", ""))

    def test_errorToStderr(self) -> None:
        """An error line goes to stderr; status 1."""
        self.port.script("error: worker 9 does not exist\n")
        self.assertEqual(execute(self.session, ["kill", "9"], self.out, self.err), 1)
        self.assertEqual(self.out.getvalue(), "")
        self.assertEqual(self.err.getvalue(), "error: worker 9 does not exist\n")

    def test_jsonErrorToStdout(self) -> None:
        """A JSON error is printed as JSON on stdout, for scripts; status 1."""
        line = '{"ok":false,"version":1,"error":"worker 9 does not exist"}'
        self.port.script(line + "\n")
        self.assertEqual(execute(self.session, ["kill", "9", "--json"], self.out, self.err), 1)
        self.assertEqual(self.out.getvalue(), line + "\n")
