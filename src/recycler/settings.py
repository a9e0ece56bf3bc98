# -*- test-case-name: tests.test_settings -*-
"""Settings from a TOML file (C{--config}) and C{RECYCLER_CMD_ARGS}, as option arguments.

Each source becomes option arguments placed before the command line's, lowest
precedence first, so that C{twisted.python.usage} applies them in that order
and the last occurrence of a parameter wins: command line > environment >
file > defaults. A repeatable option (C{--listen}) is not merged: the
highest-precedence source that gives it replaces the lower ones' values; so
does one of two L{ALTERNATIVES} (C{--admin-token} on the command line replaces
C{admin-token-file} from the file).

The file's values are read and written by L{recycler.settingsfile}. This module
imports nothing of the server, and Twisted only when it parses the options.
"""

from __future__ import annotations

import difflib
import getopt
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from recycler.checkconfig import effectiveLines
from recycler.settingsfile import SettingsError, loadFile, optionTexts

if TYPE_CHECKING:
    from twisted.python import usage

ENVIRONMENT = "RECYCLER_CMD_ARGS"
"""Extra arguments, shell-quoted (as gunicorn's C{GUNICORN_CMD_ARGS})."""

CONFIG = "config"
"""The option naming the file."""

CHECK = "check-config"
"""The flag that prints the effective settings and exits."""

NOT_SETTINGS = frozenset({"help", "version", CONFIG, CHECK})
"""Options that are no keys of the file, nor shown as settings."""

ALTERNATIVES = (frozenset({"admin-token", "admin-token-file"}),)
"""Options that give one setting two ways: the highest source giving one of them wins."""


def alternativesOf(name: str) -> frozenset[str]:
    """The options that give option C{name}'s setting another way (none for most)."""
    return frozenset(o for group in ALTERNATIVES if name in group for o in group) - {name}


_NAMED = re.compile(r"--([\w-]+): ")


@dataclass(frozen=True)
class Setting:
    """One option from one source: C{value} is L{None} for a flag."""

    name: str
    value: str | None

    def arguments(self) -> list[str]:
        """As a command-line argument."""
        return [f"--{self.name}" if self.value is None else f"--{self.name}={self.value}"]


@dataclass(frozen=True)
class OptionTable:
    """What options a C{usage.Options} takes, read from an instance of it."""

    shortOpt: str
    longOpt: tuple[str, ...]
    synonyms: Mapping[str, str]
    defaults: Mapping[str, Any]
    repeatable: frozenset[str]

    @classmethod
    def of(cls, options: usage.Options, repeatable: Iterable[str] = ()) -> OptionTable:
        """The table of C{options}; C{repeatable} names the options that accumulate."""
        return cls(
            options.shortOpt,
            tuple(options.longOpt),
            dict(options.synonyms),
            dict(options.defaults),
            frozenset(repeatable),
        )

    @property
    def flags(self) -> frozenset[str]:
        """The flags that are settings."""
        return frozenset(o for o in self.longOpt if not o.endswith("=")) - NOT_SETTINGS

    @property
    def parameters(self) -> frozenset[str]:
        """The options with a value that are settings."""
        return frozenset(o[:-1] for o in self.longOpt if o.endswith("=")) - NOT_SETTINGS

    def split(self, words: Sequence[str]) -> tuple[list[Setting], list[str]]:
        """
        The settings of command-line C{words} (abbreviations resolved), and the
        arguments after them.

        @raise getopt.GetoptError: on an unknown option or a missing value.
        """
        found, rest = getopt.getopt(list(words), self.shortOpt, list(self.longOpt))
        settings = []
        for option, value in found:
            name = option.lstrip("-")
            name = self.synonyms.get(name, self.synonyms.get(name.replace("-", "_"), name))
            takesValue = f"{name}=" in self.longOpt
            settings.append(Setting(name, value if takesValue else None))
        return settings, rest


@dataclass(frozen=True)
class Source:
    """
    The settings from one place.

    @ivar label: The file's path, L{ENVIRONMENT}, or C{""} for the command line.
    @ivar keyed: Whether it names settings by keys (a file), not options.
    """

    label: str
    settings: tuple[Setting, ...]
    keyed: bool = False

    def where(self, name: str) -> str:
        """How an error names setting C{name} of this source."""
        option = name if self.keyed else f"--{name}"
        return f"{self.label}: {option}" if self.label else option

    def blame(self, name: str, message: str) -> str:
        """An error C{message} about setting C{name}, naming this source."""
        prefix = f"--{name}: "
        return f"{self.where(name)}: {message.removeprefix(prefix)}"

    def values(self, name: str) -> list[str | None]:
        """The values it gives C{name}, in order."""
        return [s.value for s in self.settings if s.name == name]


def fileSource(path: str, table: OptionTable, read: Callable[[str], Any] = loadFile) -> Source:
    """
    The settings of the TOML file at C{path}: keys are long option names;
    flags take C{true}/C{false}, other options a string, a number, or
    C{true}/C{false} for C{on}/C{off}; repeatable ones a list of strings too.

    @raise SettingsError: on an unknown key or a value of the wrong type.
    """
    settings: list[Setting] = []
    names = table.flags | table.parameters
    for key, value in read(path).items():
        if key not in names:
            close = difflib.get_close_matches(key, sorted(names), 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SettingsError(f"{path}: unknown key {key!r}{hint}")
        try:
            settings.extend(
                Setting(key, text)
                for text in optionTexts(value, key in table.flags, key in table.repeatable)
            )
        except ValueError as e:
            raise SettingsError(f"{path}: {key}: {e}") from None
    return Source(path, tuple(settings), keyed=True)


def environmentSource(environ: Mapping[str, str], table: OptionTable) -> Source | None:
    """
    The settings of L{ENVIRONMENT} (shell-quoted option arguments), if set.

    @raise SettingsError: on bad quoting, an unknown option or an argument.
    """
    text = environ.get(ENVIRONMENT, "")
    if not text.strip():
        return None
    try:
        settings, rest = table.split(shlex.split(text))
    except (ValueError, getopt.GetoptError) as e:
        raise SettingsError(f"{ENVIRONMENT}: {e}") from None
    if rest:
        raise SettingsError(f"{ENVIRONMENT}: unexpected argument {rest[0]!r} (options only)")
    return Source(ENVIRONMENT, tuple(settings))


@dataclass(frozen=True)
class Layers:
    """Every source of settings, lowest precedence first; the command line is last."""

    sources: tuple[Source, ...]

    @classmethod
    def gather(cls, table: OptionTable, argv: Sequence[str], environ: Mapping[str, str]) -> Layers:
        """
        The sources for the command line C{argv}: the file that C{--config}
        names (on the command line, else in the environment), the environment.

        @raise SettingsError: if a source cannot be read.
        """
        try:
            command, _ = table.split(argv)
        except getopt.GetoptError as e:
            raise SettingsError(str(e)) from None
        commandLine = Source("", tuple(command))
        environment = environmentSource(environ, table)
        upper = [source for source in (environment, commandLine) if source is not None]
        paths = [path for source in upper for path in source.values(CONFIG)]
        lower = [fileSource(paths[-1], table)] if paths and paths[-1] else []
        return cls((*lower, *upper))

    @property
    def lower(self) -> tuple[Source, ...]:
        """The sources below the command line."""
        return self.sources[:-1]

    def effective(self, name: str) -> Source | None:
        """The source whose value of C{name} wins, if any gives it."""
        return next((s for s in reversed(self.sources) if s.values(name)), None)

    def given(self, name: str) -> list[str | None]:
        """The values of C{name} that count: for a repeatable option, those of one source."""
        source = self.effective(name)
        return [] if source is None or self._replaced(name, source) else source.values(name)

    def arguments(self, argv: Sequence[str], table: OptionTable) -> list[str]:
        """The lower sources as option arguments (repeatable ones replaced), then C{argv}."""
        arguments = []
        for source in self.lower:
            for setting in source.settings:
                if setting.name in table.repeatable and self.effective(setting.name) is not source:
                    continue
                if self._replaced(setting.name, source):
                    continue
                arguments.extend(setting.arguments())
        return [*arguments, *argv]

    def _replaced(self, name: str, source: Source) -> bool:
        """Whether a source above C{source} gives the alternative of option C{name}."""
        above = self.sources[self.sources.index(source) + 1 :]
        return any(s.values(other) for other in alternativesOf(name) for s in above)

    def blame(self, message: str) -> str:
        """An error C{message} about the effective value of C{--NAME}, naming its source."""
        match = _NAMED.match(message)
        if match is None:
            return message
        name = match.group(1)
        source = self.effective(name)
        if source is not None and self._replaced(name, source):  # the alternative's value
            for other in alternativesOf(name):
                if (winner := self.effective(other)) is not None:
                    return f"{winner.where(other)}: {message.removeprefix(f'--{name}: ')}"
        return message if source is None else source.blame(name, message)


def parseLayered(
    options: usage.Options,
    argv: Sequence[str],
    environ: Mapping[str, str],
    parse: Callable[[list[str]], None],
    repeatable: Iterable[str] = (),
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> None:
    """
    Parse C{argv} into C{options} with C{parse} (its C{usage.Options.parseOptions}),
    after the settings of the file and the environment. With C{--check-config},
    print the effective settings and exit 0, or the error and exit 2.

    @raise usage.UsageError: naming the file or the environment when a value
        from them is wrong.
    """
    from twisted.python import usage

    table = OptionTable.of(options, repeatable)
    checking = f"--{CHECK}" in argv or f"--{CHECK}" in environ.get(ENVIRONMENT, "")
    try:
        layers = Layers.gather(table, argv, environ)
        checking = bool(layers.given(CHECK))
        for source in layers.lower:
            _probe(type(options), source)
        try:
            parse(layers.arguments(argv, table))
        except usage.UsageError as e:
            raise usage.UsageError(layers.blame(str(e))) from None
    except (SettingsError, usage.UsageError) as e:
        if not checking:
            raise usage.UsageError(str(e)) from None
        print(f"Error: {e}", file=err or sys.stderr)
        raise SystemExit(2) from None
    if checking:
        print("\n".join(effectiveLines(table, layers, options)), file=out or sys.stdout)
        raise SystemExit(0)


def _probe(optionsType: type[usage.Options], source: Source) -> None:
    """Check each value of C{source} alone, so that an error names where it came from."""
    from twisted.python import usage

    class Probe(optionsType):  # type: ignore[misc, valid-type]
        """The options, each value checked on its own: not against the others."""

        def postOptions(self) -> None:
            """Nothing: the values are checked together once every source is in."""

    for setting in source.settings:
        try:
            usage.Options.parseOptions(Probe(), setting.arguments())
        except usage.UsageError as e:
            raise usage.UsageError(source.blame(setting.name, str(e))) from None
