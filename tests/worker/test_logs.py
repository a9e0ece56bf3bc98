"""Tests of L{recycler.worker.logs}: plain lines on stdout, Twisted's chatter filtered."""

from __future__ import annotations

import io

from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from recycler.worker.logs import observer


class ObserverTests(SynchronousTestCase):
    """L{observer} writes what the master should relay, nothing more."""

    def setUp(self) -> None:
        self.out = io.StringIO()
        self.observer = observer(self.out)

    def test_plainLineWithoutTimestamp(self) -> None:
        """A worker's own message is one line with no timestamp nor system prefix."""
        Logger(namespace="recycler.worker.main", observer=self.observer).info(
            "serving {app}", app="m:a"
        )
        self.assertEqual(self.out.getvalue(), "serving m:a\n")

    def test_twistedChatterIsFiltered(self) -> None:
        """Twisted's info messages, also through the legacy log, are dropped; warnings kept."""
        for namespace in ["twisted.internet.tcp", "log_legacy"]:
            twisted = Logger(namespace=namespace, observer=self.observer)
            twisted.info("Port closed")
            twisted.warn("out of fds")
        self.assertEqual(self.out.getvalue(), "out of fds\nout of fds\n")
