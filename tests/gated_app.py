"""An app whose import waits for a ticket, so that a test decides when each worker is ready.

    RECYCLER_TEST_GATE=DIR twistd -n recycler --app tests.gated_app:hello

Each worker, as it imports this module, waits until a file named C{ticket-*}
appears in DIR and claims it (a rename: one ticket lets exactly one worker
through), then serves L{recycler.demo.hello}. Without a ticket within a minute
the import fails.
"""

from __future__ import annotations

import os
import time

from recycler.demo import hello

__all__ = ["hello"]

WAIT = 60.0
"""Seconds to wait for a ticket."""


def _claimTicket(gate: str) -> bool:
    for name in sorted(os.listdir(gate)):
        if name.startswith("ticket-"):
            try:
                os.rename(os.path.join(gate, name), os.path.join(gate, f"used-{os.getpid()}"))
            except FileNotFoundError:
                continue  # another worker took it
            return True
    return False


def _waitForTicket(gate: str) -> None:
    deadline = time.monotonic() + WAIT
    while not _claimTicket(gate):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no ticket in {gate} after {WAIT:g}s")
        time.sleep(0.01)


_waitForTicket(os.environ["RECYCLER_TEST_GATE"])
