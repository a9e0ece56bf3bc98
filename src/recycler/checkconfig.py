# -*- test-case-name: tests.test_settings -*-
"""C{--check-config}: the effective settings, as a TOML file would give them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from recycler.settingsfile import tomlValue

if TYPE_CHECKING:
    from recycler.settings import Layers, OptionTable

SECRETS = frozenset({"admin-token"})
"""Settings whose value C{--check-config} does not print."""


def effectiveLines(table: OptionTable, layers: Layers, options: Mapping[str, Any]) -> list[str]:
    """
    The effective settings, C{name = value} each, as given (or the default),
    in TOML; unset options and secrets are comments.
    """
    lines = []
    for name in sorted(table.flags | table.parameters):
        given = layers.given(name)
        raw = given[-1] if given else table.defaults.get(name)
        if name in table.flags:
            value = "true" if options[name] else "false"
        elif isinstance(options.get(name), list):
            value = f"[{', '.join(tomlValue(item) for item in options[name])}]"
        elif raw is None:
            lines.append(f"# {name}: not set")
            continue
        elif name in SECRETS:
            lines.append(f"# {name}: set (hidden)")
            continue
        else:
            value = tomlValue(raw)
        lines.append(f"{name} = {value}")
    return lines


__all__ = ["SECRETS", "effectiveLines"]
