"""Tests of L{recycler.ctl.cli}: usage errors and unreachable ports, with their exit statuses."""

from __future__ import annotations

import io
import socket

from twisted.trial.unittest import SynchronousTestCase

from recycler.ctl.cli import EXIT_UNREACHABLE, EXIT_USAGE, run


class RunTests(SynchronousTestCase):
    """What recyclerctl says and returns before a server answers anything."""

    def run_(self, *argv: str, **environ: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        status = run(list(argv), environ, io.StringIO(), out, err)
        return status, out.getvalue(), err.getvalue()

    def test_usageErrors(self) -> None:
        """A bad endpoint, token or top option: one line on stderr, status 2."""
        cases = {
            ("--admin", "ssl:1", "list"): "use tcp:[HOST:]PORT",
            ("--token", "a b", "list"): "one word",
            ("--json", "top"): "top shows a screen",
        }
        for argv, message in cases.items():
            status, out, err = self.run_(*argv)
            self.assertEqual((status, out), (EXIT_USAGE, ""), argv)
            self.assertIn(message, err)
            self.assertTrue(err.startswith("recyclerctl: error: ") and err.count("\n") == 1)

    def test_argparseErrors(self) -> None:
        """Options argparse refuses exit 2 too, as argparse does."""
        with self.assertRaises(SystemExit) as raised:
            run(
                ["--token", "a", "--token-file", "b", "list"],
                {},
                None,
                io.StringIO(),
                io.StringIO(),
            )
        self.assertEqual(raised.exception.code, EXIT_USAGE)

    def test_unreachable(self) -> None:
        """Nobody at the admin port: one line saying so, status 3, for commands and top alike."""
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            admin = f"tcp:{unused.getsockname()[1]}"
            for command in (["list"], ["top", "--once"], []):
                status, out, err = self.run_(*command, RECYCLER_ADMIN=admin)
                self.assertEqual((status, out), (EXIT_UNREACHABLE, ""), command)
                self.assertIn("cannot connect to the admin port at 127.0.0.1:", err)
                self.assertEqual(err.count("\n"), 1)
