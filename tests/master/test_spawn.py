"""Tests of L{recycler.master.spawn}: a worker's command line and fd layout."""

from __future__ import annotations

from twisted.internet.protocol import ProcessProtocol
from twisted.trial.unittest import SynchronousTestCase

from recycler import wire
from recycler.master.spawn import WorkerCommand
from recycler.testing import FakeProcessReactor


class FakeListeners:
    """Shared sockets that a test can bind (or rebind) at will."""

    def __init__(self, *fds: int) -> None:
        self.fds = list(fds)

    def filenos(self) -> list[int]:
        return list(self.fds)


class WorkerCommandTests(SynchronousTestCase):
    """L{WorkerCommand} tells the worker how many sockets it gets, and where."""

    def command(self, listeners: FakeListeners) -> WorkerCommand:
        return WorkerCommand("/py", ["--app", "m:a"], {"A": "1"}, listeners)

    def test_argvCountsTheListeners(self) -> None:
        """C{--listeners N} is appended to the arguments, N the number of sockets."""
        self.assertEqual(
            self.command(FakeListeners(7, 9)).argv(),
            ["/py", "-m", "recycler.worker", "--app", "m:a", "--listeners", "2"],
        )
        self.assertEqual(self.command(FakeListeners()).argv()[-2:], ["--listeners", "0"])

    def test_argsAreNotChanged(self) -> None:
        """Building the argv leaves the command's own arguments alone."""
        command = self.command(FakeListeners(7))
        command.argv()
        command.argv()
        self.assertEqual(list(command.args), ["--app", "m:a"])

    def test_childFDs(self) -> None:
        """
        stdin is written (and closed by the master), stdout and stderr read,
        fd 3 written (commands), fd 4 read (events), the sockets from fd 5 on.
        """
        self.assertEqual(
            self.command(FakeListeners(7, 11, 12)).childFDs(),
            {0: "w", 1: "r", 2: "r", 3: "w", 4: "r", 5: 7, 6: 11, 7: 12},
        )

    def test_layoutMatchesTheWire(self) -> None:
        """The command and event pipes and the first socket are where the worker looks."""
        fds = self.command(FakeListeners(42)).childFDs()
        self.assertEqual(fds[wire.COMMAND_FD], "w")
        self.assertEqual(fds[wire.EVENT_FD], "r")
        self.assertEqual(fds[wire.FIRST_LISTENER_FD], 42)

    def test_listenersAreReadAtEachCall(self) -> None:
        """
        The command may be built before the sockets are bound: the argv and
        the fds come from the listeners object when they are asked for.
        """
        listeners = FakeListeners()
        command = self.command(listeners)
        self.assertEqual(command.argv()[-1], "0")
        self.assertNotIn(5, command.childFDs())
        listeners.fds[:] = [8, 9]
        self.assertEqual(command.argv()[-1], "2")
        self.assertEqual(command.childFDs()[5], 8)
        self.assertEqual(command.childFDs()[6], 9)


class Worker(ProcessProtocol):
    """A worker's process protocol, with its id."""

    def __init__(self, workerId: int) -> None:
        self.workerId = workerId


class RecordingForker:
    """A fork server that records what it is asked to fork."""

    def __init__(self) -> None:
        self.forked: list[tuple[object, list[str]]] = []

    def fork(self, protocol: object, args: list[str]) -> None:
        self.forked.append((protocol, list(args)))


class ForkModeTests(SynchronousTestCase):
    """With a forker, workers are forked with the worker's own options, never exec'd."""

    def test_forkedWithTheWorkerOptions(self) -> None:
        """
        The forker gets the protocol and the options, the worker's id last (its
        process title shows it); the reactor spawns nothing.
        """
        forker = RecordingForker()
        command = WorkerCommand("/py", ["--app", "m:a"], {}, FakeListeners(7), forker)
        reactor = FakeProcessReactor()
        protocol = Worker(12)
        command.spawn(reactor, protocol)
        expected = ["--app", "m:a", "--listeners", "1", "--id", "12"]
        self.assertEqual(forker.forked, [(protocol, expected)])
        self.assertEqual(reactor.processes, [])

    def test_execModeSpawns(self) -> None:
        """
        Without a forker the reactor spawns C{python -m recycler.worker} with
        the fds, told the worker's id.
        """
        command = WorkerCommand("/py", ["--app", "m:a"], {"A": "1"}, FakeListeners(7))
        reactor = FakeProcessReactor()
        command.spawn(reactor, Worker(3))
        [process] = reactor.processes
        self.assertEqual(process.args, command.argv(3))
        self.assertEqual(process.args[-2:], ["--id", "3"])
        self.assertEqual(process.childFDs, command.childFDs())
        self.assertEqual(process.env, {"A": "1"})
