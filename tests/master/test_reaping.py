"""
Tests of L{recycler.master.reaping}: the subreaper and the orphans it reaps.

The test process itself never becomes a subreaper: the re-parenting is checked
in a subprocess. In this process, the L{OrphanReaper} is shown only the
children each test made, so it never touches another test's processes.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import textwrap

import psutil
from twisted.internet import process
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from recycler.master import reaping
from recycler.master.reaping import OrphanReaper, becomeSubreaper, describeStatus
from tests.processes import waitForZombie

DEADLINE = 10.0


class ChildTestCase(SynchronousTestCase):
    """Forks children that are always reaped."""

    def child(self, code: int = 0, waitFor: tuple[int, int] | None = None) -> int:
        """A child that exits with C{code} (after EOF on the pipe C{waitFor}, if given)."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            pid = os.fork()
            if pid == 0:
                try:
                    signal.set_wakeup_fd(-1)
                    if waitFor is not None:
                        os.close(waitFor[1])
                        while os.read(waitFor[0], 1):
                            pass
                finally:
                    os._exit(code)
        finally:
            if collecting:
                gc.enable()
        self.addCleanup(self._bury, pid)
        return pid

    def _bury(self, pid: int) -> None:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return  # reaped already
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)

    def zombie(self, code: int = 0) -> int:
        """A child that has exited and is not reaped yet."""
        pid = self.child(code)
        waitForZombie(pid, DEADLINE)
        return pid

    def isUnreaped(self, pid: int) -> bool:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        return True

    def reaperOf(self, *pids: int, clock: Clock | None = None) -> OrphanReaper:
        """A reaper that sees only C{pids} among this process's children."""
        return OrphanReaper(
            clock or Clock(), 1.0, lambda: [c for c in psutil.Process().children() if c.pid in pids]
        )


class RegisteredHandler:
    """Stands for a Twisted process transport waiting for its child."""

    def reapProcess(self) -> None:
        raise AssertionError("not called in these tests")

    def processEnded(self, status: int) -> None:
        raise AssertionError("not called in these tests")


class OrphanReaperTests(ChildTestCase):
    """Zombies nobody waits for are reaped; Twisted's own are left alone."""

    def test_unknownZombieReapedAtSecondLook(self) -> None:
        """
        An unclaimed zombie is reaped the second time it is seen (not the
        first: it may be a worker about to be registered), and logged.
        """
        pid = self.zombie(code=5)
        reaper = self.reaperOf(pid)
        self.assertEqual(reaper.reapOrphans(), [])
        self.assertTrue(self.isUnreaped(pid))
        with capturedLogs() as events:
            self.assertEqual(reaper.reapOrphans(), [pid])
        self.assertFalse(self.isUnreaped(pid))
        self.assertEqual(reaper.reaped, 1)
        [event] = events
        self.assertEqual((event["pid"], event["status"]), (pid, "exit code 5"))
        self.assertEqual(reaper.reapOrphans(), [])

    def test_registeredZombieLeftAlone(self) -> None:
        """A zombie in reapProcessHandlers is Twisted's to reap: never waited for."""
        release = os.pipe()
        known = self.child(waitFor=release)
        os.close(release[0])
        process.registerReapProcessHandler(known, RegisteredHandler())
        self.addCleanup(process.reapProcessHandlers.pop, known, None)
        os.close(release[1])
        unknown = self.zombie()
        waitForZombie(known, DEADLINE)
        reaper = self.reaperOf(known, unknown)
        for _ in range(3):
            reaper.reapOrphans()
        self.assertTrue(self.isUnreaped(known))
        self.assertFalse(self.isUnreaped(unknown))
        self.assertEqual(os.waitpid(known, 0)[0], known)

    def test_livingChildrenLeftAlone(self) -> None:
        """A child that is still running is not waited for."""
        release = os.pipe()
        self.addCleanup(os.close, release[1])
        alive = self.child(waitFor=release)
        os.close(release[0])
        reaper = self.reaperOf(alive)
        self.assertEqual([reaper.reapOrphans() for _ in range(3)], [[], [], []])
        self.assertNotEqual(psutil.Process(alive).status(), psutil.STATUS_ZOMBIE)

    def test_zombieGoneMeanwhile(self) -> None:
        """
        A zombie someone else reaps between two looks, or even between the
        look and the wait, is no error.
        """
        pid = self.zombie()
        stale = psutil.Process(pid)
        reaper = OrphanReaper(Clock(), 1.0, lambda: [stale])
        reaper.reapOrphans()
        os.waitpid(pid, 0)
        self.assertEqual(reaper.reapOrphans(), [])  # psutil: no such process

        class Stale:
            """What psutil said a moment before the zombie was reaped."""

            def status(self) -> str:
                return psutil.STATUS_ZOMBIE

            def name(self) -> str:
                return "stale"

        Stale.pid = pid  # type: ignore[attr-defined]
        reaper = OrphanReaper(Clock(), 1.0, lambda: [Stale()])  # type: ignore[list-item]
        self.assertEqual([reaper.reapOrphans(), reaper.reapOrphans()], [[], []])

    def test_looksPeriodically(self) -> None:
        """start() looks every interval on the given clock; stop() ends it."""
        clock = Clock()
        pid = self.zombie(code=1)
        reaper = self.reaperOf(pid, clock=clock)
        reaper.start()
        self.assertTrue(self.isUnreaped(pid))
        clock.advance(1.0)
        self.assertTrue(self.isUnreaped(pid))
        clock.advance(1.0)
        self.assertFalse(self.isUnreaped(pid))
        reaper.stop()
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_failingLookDoesNotStopTheLoop(self) -> None:
        """An unexpected error is logged and the next look still happens."""
        clock = Clock()
        looks: list[int] = []

        def children() -> list[psutil.Process]:
            looks.append(1)
            if len(looks) == 1:
                raise RuntimeError("boom")
            return []

        reaper = OrphanReaper(clock, 1.0, children)
        reaper.start()
        clock.advance(1.0)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        clock.advance(1.0)
        self.assertEqual(len(looks), 2)
        reaper.stop()

    def test_describeStatus(self) -> None:
        self.assertEqual(describeStatus(0), "exit code 0")
        self.assertEqual(describeStatus(3 << 8), "exit code 3")
        self.assertEqual(describeStatus(signal.SIGKILL), "signal 9")


SCENARIO = textwrap.dedent(
    """
    import json, os, time
    import psutil
    from twisted.internet import process
    from twisted.internet.task import Clock
    from recycler.master.reaping import OrphanReaper, becomeSubreaper

    def orphan(release):
        # fork an intermediate that forks a grandchild and exits at once;
        # the grandchild exits at EOF on the release pipe
        read, write = os.pipe()
        intermediate = os.fork()
        if intermediate == 0:
            grandchild = os.fork()
            if grandchild == 0:
                os.close(release[1])
                os.read(release[0], 1)
                os._exit(0)
            os.write(write, b"%d" % grandchild)
            os._exit(0)
        os.waitpid(intermediate, 0)
        os.close(write)
        return int(os.read(read, 20))

    release = os.pipe()
    subreaper = becomeSubreaper()
    grandchild = orphan(release)
    parent = psutil.Process(grandchild).ppid()

    os.close(release[0])
    known = os.fork()
    if known == 0:
        os._exit(0)

    class Handler:
        pass

    process.reapProcessHandlers[known] = Handler()
    os.close(release[1])
    while {c.status() for c in psutil.Process().children()} != {"zombie"}:
        time.sleep(0.01)
    reaper = OrphanReaper(Clock())
    reaped = reaper.reapOrphans() + reaper.reapOrphans() + reaper.reapOrphans()
    left = [c.pid for c in psutil.Process().children()]
    del process.reapProcessHandlers[known]
    os.waitpid(known, 0)
    print(json.dumps({
        "subreaper": subreaper, "parentIsUs": parent == os.getpid(), "grandchild": grandchild,
        "known": known, "reaped": reaped, "left": left,
        "after": [c.pid for c in psutil.Process().children()],
    }))
    """
)


class SubreaperTests(SynchronousTestCase):
    """A subreaper inherits its orphaned descendants, which the reaper then collects."""

    def test_orphanReparentedAndReaped(self) -> None:
        """
        In a subprocess that became a subreaper, a double-forked grandchild's
        parent is that subprocess; once it exits, OrphanReaper (listing real
        children with psutil) reaps it and leaves the registered zombie alone.
        """
        result = subprocess.run(
            [sys.executable, "-c", SCENARIO], capture_output=True, text=True, timeout=60
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        outcome = json.loads(result.stdout)
        self.assertTrue(outcome["subreaper"])
        self.assertTrue(outcome["parentIsUs"])
        self.assertEqual(outcome["reaped"], [outcome["grandchild"]])
        self.assertEqual(outcome["left"], [outcome["known"]])
        self.assertEqual(outcome["after"], [])

    def test_notLinux(self) -> None:
        """Where there is no PR_SET_CHILD_SUBREAPER, nothing is called and the answer is False."""
        self.patch(reaping.sys, "platform", "darwin")
        self.patch(reaping, "ctypes", None)
        self.assertFalse(becomeSubreaper())
