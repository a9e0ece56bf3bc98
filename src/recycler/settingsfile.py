# -*- test-case-name: tests.test_settings -*-
"""The configuration file's side of C{--config}: TOML values to option values, and back.

Keys are the long option names. A flag takes C{true} or C{false}; another
option a string, a number, or C{true}/C{false} for C{on}/C{off}; a repeatable
one (C{listen}) a string or a list of strings. L{tomlValue} writes an option's
value back as TOML, for C{--check-config}. C{recycler.ctl} reads the same file
with L{loadFile}, so this module imports nothing.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

_NUMBER = re.compile(r"[+-]?(0|[1-9]\d*)(\.\d+)?")


class SettingsError(Exception):
    """A source of settings cannot be used; the message says where and why."""


def loadFile(path: str) -> dict[str, Any]:
    """
    The table a TOML file holds.

    @raise SettingsError: if it cannot be read or is not TOML, naming C{path}.
    """
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise SettingsError(f"{path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{path}: not valid TOML: {e}") from None


def optionTexts(value: Any, flag: bool, repeatable: bool) -> list[str | None]:
    """
    A file's C{value} as option values (L{None}: a flag that is on).

    @param flag: Whether the option is a flag.
    @param repeatable: Whether it may be given several times.
    @raise ValueError: if the value has the wrong type for the option.
    """
    if flag:
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, not {_short(value)}")
        return [None] if value else []
    if isinstance(value, list) and repeatable:
        if not all(isinstance(item, str) for item in value):
            raise ValueError(f"must be a list of strings, not {_short(value)}")
        return list(value)
    if isinstance(value, bool):
        return ["on" if value else "off"]
    if isinstance(value, int | float | str):
        return [str(value)]
    if isinstance(value, list):
        raise ValueError(f"takes one value, not a list ({_short(value)})")
    raise ValueError(f"must be a string, a number or true/false, not {_short(value)}")


def tomlValue(raw: Any) -> str:
    """An option's value as TOML: numbers bare, C{on}/C{off} for a bool, strings quoted."""
    if isinstance(raw, bool):
        raw = "on" if raw else "off"
    text = str(raw)
    return text if _NUMBER.fullmatch(text) else json.dumps(text, ensure_ascii=False)


def _short(value: Any) -> str:
    """C{value} for an error message, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
