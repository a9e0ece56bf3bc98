"""recyclerctl: the command-line client of a recycler server's admin port.

It speaks the admin port's line protocol over a plain socket (TCP or unix),
and imports nothing of the server but L{recycler.settings}, which reads the
server's configuration file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """The C{recyclerctl} console script: run it with C{argv} (default: C{sys.argv[1:]})."""
    from recycler.ctl.cli import run

    try:
        return run(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:
        # The reader went away (recyclerctl watch | head): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
