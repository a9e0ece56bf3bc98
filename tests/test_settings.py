"""Tests of L{recycler.settings} and L{recycler.settingsfile}: --config, RECYCLER_CMD_ARGS
and --check-config, in the process and through the real twistd and twist runners."""

from __future__ import annotations

import functools
import io
import os
import socket
import subprocess
import sys
import tempfile
import tomllib

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from recycler.settings import (
    ENVIRONMENT,
    Layers,
    OptionTable,
    Setting,
    SettingsError,
    Source,
    environmentSource,
    fileSource,
    parseLayered,
)
from recycler.settingsfile import optionTexts, tomlValue
from recycler.tap import Options

TABLE = OptionTable.of(Options(), ["listen"])


def fromTOML(text: str) -> Layers:
    """Layers of a file holding C{text} only."""
    return Layers((fileSource("r.toml", TABLE, lambda path: tomllib.loads(text)), Source("", ())))


class TemporaryFiles(SynchronousTestCase):
    """A test case that writes files into a directory removed afterwards."""

    def write(self, name: str, text: str) -> str:
        if not hasattr(self, "directory"):
            self.directory = tempfile.mkdtemp()
            self.addCleanup(os.rmdir, self.directory)
        path = os.path.join(self.directory, name)
        with open(path, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path


class TableTests(SynchronousTestCase):
    """The options a file and the environment may set are the command line's."""

    def test_namesFromTheOptions(self) -> None:
        """Flags and parameters as Options declares them; help, version, config are not keys."""
        self.assertTrue({"preload", "admin-insecure"} <= TABLE.flags)
        self.assertTrue({"workers", "ttl", "listen", "admin-token"} <= TABLE.parameters)
        self.assertFalse(
            {"help", "version", "config", "check-config"} & (TABLE.flags | TABLE.parameters)
        )

    def test_split(self) -> None:
        """Short options, abbreviations and = are resolved to names; arguments are left."""
        settings, rest = TABLE.split(["-w", "3", "--max-d=4", "-l", "tcp:1", "--preload", "x"])
        expected = [
            Setting("workers", "3"),
            Setting("max-draining", "4"),
            Setting("listen", "tcp:1"),
        ]
        self.assertEqual((settings, rest), ([*expected, Setting("preload", None)], ["x"]))


class FileTests(TemporaryFiles):
    """TOML values become option values."""

    def test_values(self) -> None:
        """Numbers and strings as text, booleans on/off, flags when true, lists for --listen."""
        layers = fromTOML(
            'workers = 8\ngrace = 2.5\nttl = "3600:7200"\noverlap = false\npreload = true\n'
            'admin-insecure = false\nlisten = ["tcp:1", "tcp6:2"]\n'
        )
        self.assertEqual(
            layers.arguments([], TABLE),
            ["--workers=8", "--grace=2.5", "--ttl=3600:7200", "--overlap=off", "--preload",
             "--listen=tcp:1", "--listen=tcp6:2"],
        )  # fmt: skip
        self.assertEqual(optionTexts("tcp:1", False, True), ["tcp:1"])

    def test_errors(self) -> None:
        """Unknown keys (with a hint) and values of the wrong type name the file and the key."""
        cases = {
            "wrokers = 2": "r.toml: unknown key 'wrokers' (did you mean 'workers'?)",
            "config = 'x.toml'": "r.toml: unknown key 'config'",
            "preload = 'yes'": "r.toml: preload: must be true or false, not 'yes'",
            "workers = [1, 2]": "r.toml: workers: takes one value, not a list ([1, 2])",
            "listen = [80]": "r.toml: listen: must be a list of strings, not [80]",
            "[pool]\nworkers = 2": "r.toml: unknown key 'pool'",
        }
        for text, message in cases.items():
            with self.assertRaises(SettingsError) as raised:
                fromTOML(text)
            self.assertTrue(str(raised.exception).startswith(message), str(raised.exception))

    def test_unreadable(self) -> None:
        """A missing file or bad TOML is an error naming the file."""
        bad = self.write("bad.toml", "workers = \n")
        for path, message in [(bad, "not valid TOML"), ("/nonexistent.toml", "No such file")]:
            with self.assertRaises(SettingsError) as raised:
                fileSource(path, TABLE)
            self.assertIn(f"{path}: {message}", str(raised.exception))

    def test_tomlValue(self) -> None:
        """Numbers stay bare, booleans are on/off, other text is a TOML string."""
        values = [8, 30.0, "8", "0:5", True, "010", 'a"b']
        self.assertEqual(
            [tomlValue(v) for v in values], ["8", "30.0", "8", '"0:5"', '"on"', '"010"', r'"a\"b"']
        )


class EnvironmentTests(SynchronousTestCase):
    """RECYCLER_CMD_ARGS is shell-quoted option arguments."""

    def test_shellQuoting(self) -> None:
        """Quotes and escapes as a shell takes them."""
        source = environmentSource({ENVIRONMENT: "--app 'my app:x' -w 2"}, TABLE)
        assert source is not None
        self.assertEqual(source.settings, (Setting("app", "my app:x"), Setting("workers", "2")))
        self.assertIsNone(environmentSource({ENVIRONMENT: "  "}, TABLE))

    def test_errors(self) -> None:
        """Bad quoting, unknown options and arguments are named errors."""
        cases = {
            "--workers 'a": "No closing quotation",
            "--frobnicate": "option --frobnicate not recognized",
            "--workers 2 extra": "unexpected argument 'extra' (options only)",
        }
        for text, message in cases.items():
            with self.assertRaises(SettingsError) as raised:
                environmentSource({ENVIRONMENT: text}, TABLE)
            self.assertEqual(str(raised.exception), f"{ENVIRONMENT}: {message}")


class ParseTests(TemporaryFiles):
    """The sources together, in C{Options.parseOptions}."""

    def parse(self, *argv: str, **environ: str) -> tuple[Options, str]:
        """Parse as the hook in recycler.tap does; with --check-config, return its output."""
        options, out = Options(), io.StringIO()
        parse = functools.partial(usage.Options.parseOptions, options)
        try:
            parseLayered(options, argv, environ, parse, ["listen"], out, io.StringIO())
        except SystemExit as e:
            self.assertEqual(e.code, 0)
        return options, out.getvalue()

    def test_precedence(self) -> None:
        """Command line > environment > file > defaults, option by option."""
        config = self.write("r.toml", 'workers = 3\ngrace = 7\nttl = "off"\n')
        environ = {ENVIRONMENT: f"--config {config} --workers 5 --grace 6"}
        options, _ = self.parse("-w", "7", **environ)
        self.assertEqual((options["workers"], options["grace"], options["ttl"]), (7, 6, None))
        options, _ = self.parse(**environ)
        self.assertEqual((options["workers"], options["grace"]), (5, 6))
        options, _ = self.parse("--config", config)
        self.assertEqual((options["workers"], options["grace"], options["threads"]), (3, 7, 0))

    def test_listenIsReplaced(self) -> None:
        """The highest source that gives --listen replaces the others' --listen."""
        config = self.write("r.toml", 'listen = ["tcp:1", "tcp:2"]\n')
        self.assertEqual(self.parse("--config", config)[0]["listen"], ["tcp:1", "tcp:2"])
        environ = {ENVIRONMENT: "-l tcp:3"}
        self.assertEqual(self.parse("--config", config, **environ)[0]["listen"], ["tcp:3"])
        options, _ = self.parse("--config", config, "-l", "tcp:4", "-l", "tcp:5", **environ)
        self.assertEqual(options["listen"], ["tcp:4", "tcp:5"])

    def test_tokenAlternativesReplaced(self) -> None:
        """
        --admin-token and --admin-token-file give one setting: the highest source
        giving either wins, instead of the two clashing ("not both"); within one
        source both are still an error.
        """
        tokenFile = self.write("token", "from-the-file-x\n")
        config = self.write("r.toml", f'admin-token-file = "{tokenFile}"\n')
        options, _ = self.parse("--config", config, "--admin-token", "from-the-command")
        self.assertEqual(options["admin-token"], "from-the-command")
        config = self.write("t.toml", 'admin-token = "from-the-config"\n')
        options, _ = self.parse("--config", config, "--admin-token-file", tokenFile)
        self.assertEqual(options["admin-token"], "from-the-file-x")
        with self.assertRaises(usage.UsageError) as raised:
            self.parse("--admin-token", "abcdefghij", "--admin-token-file", tokenFile)
        self.assertIn("not both", str(raised.exception))

    def test_errorOfTheWinningAlternative(self) -> None:
        """A bad token read from the command line's token file is blamed on that, not the file."""
        tokenFile = self.write("token", "two words\n")
        config = self.write("t.toml", 'admin-token = "good-token-123"\n')
        with self.assertRaises(usage.UsageError) as raised:
            self.parse("--config", config, "--admin-token-file", tokenFile)
        self.assertTrue(str(raised.exception).startswith("--admin-token-file: "), raised.exception)

    def test_theHookInTap(self) -> None:
        """Options.parseOptions reads the environment and the file itself."""
        config = self.write("r.toml", "workers = 3\npreload = true\n")
        self.patch(os, "environ", {ENVIRONMENT: f"--config={config} --max-requests 9"})
        options = Options()
        options.parseOptions(["--ttl", "off"])
        self.assertEqual((options["workers"], options["preload"]), (3, 1))
        self.assertEqual((options["max-requests"], options["ttl"]), (9, None))

    def test_errorsNameTheirSource(self) -> None:
        """A bad value from the file or the environment says where it came from."""
        config = self.write("r.toml", 'workers = 0\nttl = "10:5"\n')
        good = self.write("good.toml", 'ttl = "1:2"\n')
        cases = [
            (["--config", config, "-w", "4"], {}, f"{config}: workers: must be at least 1, got 0"),
            (["--config", good], {ENVIRONMENT: "--ttl 9:1"}, "RECYCLER_CMD_ARGS: --ttl: need"),
            (["--config", good, "--ttl", "9:1"], {}, "--ttl: need finite"),
            (["--config", "/nonexistent.toml"], {}, "/nonexistent.toml: No such file"),
        ]
        for argv, environ, message in cases:
            with self.assertRaises(usage.UsageError) as raised:
                self.parse(*argv, **environ)
            self.assertTrue(str(raised.exception).startswith(message), str(raised.exception))
        config = self.write("ttl.toml", 'ttl = "10:5"\n')
        with self.assertRaises(usage.UsageError) as raised:
            self.parse("--config", config)
        self.assertEqual(
            str(raised.exception), f"{config}: ttl: need finite 0 <= MIN <= MAX, got '10:5'"
        )


class CheckConfigTests(TemporaryFiles):
    """--check-config prints the effective settings, or the error."""

    def check(self, *argv: str, **environ: str) -> tuple[int, str, str]:
        options, out, err = Options(), io.StringIO(), io.StringIO()
        parse = functools.partial(usage.Options.parseOptions, options)
        with self.assertRaises(SystemExit) as raised:
            parseLayered(options, [*argv, "--check-config"], environ, parse, ["listen"], out, err)
        return raised.exception.code, out.getvalue(), err.getvalue()

    def test_effectiveSettingsAreTOML(self) -> None:
        """Every setting once, as TOML that reads back to the same settings; exit 0."""
        code, text, _ = self.check("-w", "8", "--ttl", "3600:7200", "--preload", "-l", "tcp:1")
        self.assertEqual(code, 0)
        self.assertIn("workers = 8\n", text)
        self.assertIn('ttl = "3600:7200"\n', text)
        self.assertIn('listen = ["tcp:1"]\n', text)
        self.assertIn("preload = true\n", text)
        self.assertIn("# tls-cert: not set\n", text)
        config = self.write("again.toml", text)
        self.assertEqual(self.check("--config", config)[1], text)

    def test_secretsAreNotPrinted(self) -> None:
        """The admin token is said to be set, not shown."""
        _, text, _ = self.check("--admin-token", "s3cret")
        self.assertIn("# admin-token: set (hidden)\n", text)
        self.assertNotIn("s3cret", text)

    def test_replacedAlternativeNotShown(self) -> None:
        """An admin-token-file that the command line's --admin-token replaced is not set."""
        config = self.write("r.toml", 'admin-token-file = "/nonexistent"\n')
        _, text, _ = self.check("--config", config, "--admin-token", "s3cret-token")
        self.assertIn("# admin-token-file: not set\n", text)
        self.assertIn("# admin-token: set (hidden)\n", text)

    def test_errorExits2(self) -> None:
        """A bad value: one line naming the key and the file, exit 2, nothing on stdout."""
        config = self.write("r.toml", "max-requests = -1\n")
        code, out, err = self.check("--config", config)
        self.assertEqual((code, out), (2, ""))
        self.assertEqual(
            err, f"Error: {config}: max-requests: must be at least 1, or off, got -1\n"
        )

    def test_fromTheEnvironment(self) -> None:
        """--check-config may come from RECYCLER_CMD_ARGS too, and so may its errors."""
        options = Options()
        parse = functools.partial(usage.Options.parseOptions, options)
        err = io.StringIO()
        with self.assertRaises(SystemExit) as raised:
            environ = {ENVIRONMENT: "--check-config --workers x"}
            parseLayered(options, [], environ, parse, ["listen"], io.StringIO(), err)
        self.assertEqual(raised.exception.code, 2)
        self.assertIn("RECYCLER_CMD_ARGS: --workers: must be at least 1", err.getvalue())


TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
TWIST = [sys.executable, "-m", "twisted"]


def runRecycler(runner: list[str], *args: str, **environ: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != ENVIRONMENT}
    return subprocess.run(
        [*runner, "recycler", *args],
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_checkConfigFileEqualsCommandLine(tmp_path):
    """A TOML file gives the effective settings of the same options on the command line."""
    config = tmp_path / "recycler.toml"
    config.write_text(
        'workers = 8\nttl = "3600:7200"\nlisten = ["tcp:18080", "tcp6:18080"]\npreload = true\n'
        'max-rss = "512M"\noverlap = false\n'
    )
    fromFile = runRecycler(TWISTD, "--config", str(config), "--check-config")
    fromArgs = runRecycler(
        TWISTD, "--workers", "8", "--ttl", "3600:7200", "-l", "tcp:18080", "-l", "tcp6:18080",
        "--preload", "--max-rss", "512M", "--overlap", "off", "--check-config",
    )  # fmt: skip
    assert fromFile.returncode == 0, fromFile.stderr
    assert fromFile.stdout == fromArgs.stdout
    assert "workers = 8\n" in fromFile.stdout
    assert 'listen = ["tcp:18080", "tcp6:18080"]\n' in fromFile.stdout


def test_checkConfigBadValue(tmp_path):
    """A bad value exits 2 with one line naming the key and the file; no traceback."""
    config = tmp_path / "recycler.toml"
    config.write_text("workers = 0\n")
    for runner in (TWISTD, TWIST):
        result = runRecycler(runner, "--config", str(config), "--check-config")
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr == f"Error: {config}: workers: must be at least 1, got 0\n"


def test_checkConfigStartsNothing(tmp_path):
    """--check-config binds no socket: it succeeds on ports another process holds."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        admin = tmp_path / "admin.sock"
        result = runRecycler(
            TWIST, "--listen", f"tcp:{port}:interface=127.0.0.1", "--admin", f"unix:{admin}",
            "--check-config",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not admin.exists()


def test_environmentArgumentsAndTheirOverride(tmp_path):
    """RECYCLER_CMD_ARGS is applied over the file, and the command line wins over it."""
    config = tmp_path / "recycler.toml"
    config.write_text('workers = 3\nttl = "1:2"\n')
    environ = {ENVIRONMENT: "--workers 5 --ttl off"}
    applied = runRecycler(TWISTD, "--config", str(config), "--check-config", **environ)
    assert "workers = 5\n" in applied.stdout and 'ttl = "off"\n' in applied.stdout
    overridden = runRecycler(
        TWISTD, "--config", str(config), "-w", "6", "--check-config", **environ
    )
    assert "workers = 6\n" in overridden.stdout and 'ttl = "off"\n' in overridden.stdout
