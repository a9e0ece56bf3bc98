"""Tests of L{recycler.ctl.options}: where the endpoint and the token come from."""

from __future__ import annotations

import os
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from recycler.ctl.endpoint import Address
from recycler.ctl.options import Target, UsageProblem, parser, resolve, topOptions


class ResolveTests(SynchronousTestCase):
    """Options, then the environment, then the config file, then the default."""

    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp()

    def tearDown(self) -> None:
        for name in os.listdir(self.directory):
            os.unlink(os.path.join(self.directory, name))
        os.rmdir(self.directory)

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.directory, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def resolve(self, *argv: str, **environ: str) -> Target:
        return resolve(parser().parse_args(list(argv)), environ)

    def test_default(self) -> None:
        """Nothing given: the server's default admin port, no token."""
        target = self.resolve("list")
        self.assertEqual((target.address, target.token), (Address("127.0.0.1", 10081), None))

    def test_precedence(self) -> None:
        """--admin and --token beat the environment, which beats the config file."""
        config = self.write("r.toml", 'admin = "tcp:3"\nadmin-token = "file"\nworkers = 8\n')
        environ = {"RECYCLER_ADMIN": "tcp:2", "RECYCLER_ADMIN_TOKEN": "env"}
        target = self.resolve("--config", config, "--admin", "tcp:1", "--token", "opt", **environ)
        self.assertEqual((target.address.port, target.token), (1, "opt"))
        target = self.resolve("--config", config, **environ)
        self.assertEqual((target.address.port, target.token), (2, "env"))
        target = self.resolve("--config", config)
        self.assertEqual((target.address.port, target.token), (3, "file"))

    def test_tokenFiles(self) -> None:
        """--token-file and the file's admin-token-file are read, stripped."""
        token = self.write("token", "s3cret\n")
        self.assertEqual(self.resolve("--token-file", token).token, "s3cret")
        config = self.write("r.toml", f'admin-token-file = "{token}"\n')
        self.assertEqual(self.resolve("--config", config).token, "s3cret")

    def test_problems(self) -> None:
        """Every unusable input is a L{UsageProblem} that says what is wrong."""
        both = self.write("both.toml", 'admin-token = "a"\nadmin-token-file = "b"\n')
        number = self.write("number.toml", "admin = 10081\n")
        broken = self.write("broken.toml", "admin = \n")
        cases = {
            ("--token", "two words"): "the admin token must be one word",
            ("--token-file", "/nonexistent"): "--token-file: /nonexistent: No such file",
            ("--config", both): "give admin-token or admin-token-file, not both",
            ("--config", number): "admin: must be a string, not 10081",
            ("--config", broken): "broken.toml: not valid TOML",
            ("--config", "/nonexistent.toml"): "/nonexistent.toml: No such file",
            ("--admin", "none"): "admin endpoint: the admin port is off",
            ("--timeout", "0"): "--timeout must be above 0",
        }
        for argv, message in cases.items():
            with self.assertRaises(UsageProblem) as raised:
                self.resolve(*argv)
            self.assertIn(message, str(raised.exception), argv)


class ParserTests(SynchronousTestCase):
    """Options go before the command; the command keeps its own flags."""

    def test_commandKeepsItsFlags(self) -> None:
        """kill 3 --now and list --json reach the server as they are."""
        self.assertEqual(
            parser().parse_args(["kill", "3", "--now"]).command, ["kill", "3", "--now"]
        )
        args = parser().parse_args(["--json", "--admin", "tcp:1", "list", "--json"])
        self.assertEqual((args.json, args.admin, args.command), (True, "tcp:1", ["list", "--json"]))

    def test_top(self) -> None:
        """top takes --once and --interval, one second by default; not --json, nor 0 s."""
        self.assertEqual(topOptions([], False).interval, 1.0)
        args = topOptions(["--once", "--interval", "0.5"], False)
        self.assertEqual((args.once, args.interval), (True, 0.5))
        self.assertRaises(UsageProblem, topOptions, [], True)
        with self.assertRaises(UsageProblem) as raised:
            topOptions(["--interval", "0"], False)
        self.assertEqual(str(raised.exception), "top --interval must be above 0, got 0")
