# -*- test-case-name: tests.worker.test_main -*-
"""Process titles: C{recycler: worker 12 [myapp:app]} in ps and top, with setproctitle.

The optional C{setproctitle} package (C{pip install 'recycler[title]'}) rewrites
the command line that ps, top and C{/proc/PID/cmdline} show; without it,
processes keep their real command line. The master (C{recycler/tap.py}, which
may import from both sides) names itself with the same function.
"""

from __future__ import annotations


def setTitle(role: str, app: str | None) -> bool:
    """
    Show this process as C{recycler: ROLE [APP]} (C{[-]} without an app), if
    setproctitle is installed; return whether it was.
    """
    try:
        from setproctitle import setproctitle
    except ImportError:
        return False
    setproctitle(f"recycler: {role} [{app or '-'}]")
    return True
