# -*- test-case-name: tests.ctl.test_cli -*-
"""recyclerctl: one admin command, C{top}, or a prompt; and the exit status of each.

Exit status: 0 done, 1 the server answered an error (or refused the token),
2 a usage error, 3 the admin port cannot be reached (or went away), 130
interrupted.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TextIO

from recycler.ctl.client import AdminPortError, Connection
from recycler.ctl.interactive import interactive
from recycler.ctl.options import UsageProblem, parser, resolve, topOptions
from recycler.ctl.screen import show
from recycler.ctl.session import Refused, Session, execute
from recycler.ctl.top import takeSample

EXIT_ERROR, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 1, 2, 3, 130


def run(
    argv: Sequence[str],
    environ: Mapping[str, str] = os.environ,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """
    Run recyclerctl with the arguments C{argv}.

    @return: The exit status. (C{--help} and argparse's usage errors exit
        through C{SystemExit}, 0 and 2.)
    """
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    args = parser().parse_args(argv)
    words = list(args.command)
    try:
        topArgs = topOptions(words[1:], args.json) if words[:1] == ["top"] else None
        target = resolve(args, environ)
    except UsageProblem as e:
        print(f"recyclerctl: error: {e}", file=stderr)
        return EXIT_USAGE
    session = Session(
        lambda: Connection.open(target.address, target.timeout),
        target.token,
        jsonMode=args.json and not words,
    )
    try:
        if topArgs is not None:
            heading = f"recyclerctl top: {target.address}"
            show(
                lambda: takeSample(session, time.monotonic),
                topArgs.interval,
                lambda: f"{heading}  {time.strftime('%H:%M:%S')}",
                stdout,
                topArgs.once,
            )
            return 0
        if not words:
            return interactive(session, stdin, stdout, stderr)
        if args.json and "--json" not in words:
            words.append("--json")
        return execute(session, words, stdout, stderr)
    except AdminPortError as e:
        print(f"recyclerctl: {e}", file=stderr)
        return EXIT_UNREACHABLE
    except Refused as e:
        print(f"error: {e.reply.error}", file=stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        session.close()
