"""Tests of reading a worker's resident memory."""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from recycler.master.memory import residentBytes


class ResidentBytesTests(SynchronousTestCase):
    """RSS through psutil, or None when it cannot be read."""

    def test_livingProcess(self) -> None:
        """This process uses some memory."""
        self.assertGreater(residentBytes(os.getpid()) or 0, 1024 * 1024)

    def test_noProcess(self) -> None:
        """No pid yet, or a process that has exited: None, never an exception."""
        self.assertIsNone(residentBytes(None))
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        self.assertIsNone(residentBytes(child.pid))
