# -*- test-case-name: tests.ctl.test_options -*-
"""recyclerctl's command line, and where the admin port and its token come from.

Each of the endpoint and the token is taken from the first place that has it:
the options (C{--admin}; C{--token} or C{--token-file}), the environment
(C{RECYCLER_ADMIN}, C{RECYCLER_ADMIN_TOKEN}), the server's configuration file
(C{--config}: its keys C{admin}, C{admin-token}, C{admin-token-file}), else the
server's default endpoint without a token.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recycler.ctl.client import DEFAULT_TIMEOUT
from recycler.ctl.endpoint import DEFAULT_ADMIN, Address, EndpointError, parseEndpoint
from recycler.settingsfile import SettingsError, loadFile

ADMIN_VARIABLE = "RECYCLER_ADMIN"
TOKEN_VARIABLE = "RECYCLER_ADMIN_TOKEN"

DESCRIPTION = """\
Send one command to a recycler server's admin port and print the reply
(without its closing 'ok'), or, without a command, open a prompt (Ctrl-D
exits). 'recyclerctl help' lists the server's commands; 'recyclerctl top'
shows the workers live. Exit status: 0 done, 1 the server answered an error,
2 usage error, 3 cannot reach the admin port.
"""

EPILOG = """\
examples:
  recyclerctl list
  recyclerctl --json list
  recyclerctl scale 8
  recyclerctl kill 3 --now
  recyclerctl --admin unix:/run/recycler/admin.sock --token-file /etc/recycler/token watch
  recyclerctl --config /etc/recycler/recycler.toml top
"""


class UsageProblem(Exception):
    """The command line or the configuration cannot be used: exit status 2."""


@dataclass(frozen=True)
class Target:
    """The admin port to talk to, with its token."""

    address: Address
    token: str | None
    timeout: float


def parser() -> argparse.ArgumentParser:
    """The parser of recyclerctl's options; the admin command is whatever follows them."""
    parser = argparse.ArgumentParser(
        prog="recyclerctl",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--admin",
        metavar="ENDPOINT",
        help=f"the admin port, as the server's --admin: tcp:[HOST:]PORT, unix:PATH "
        f"(default: ${ADMIN_VARIABLE}, the config file, {DEFAULT_ADMIN})",
    )
    tokens = parser.add_mutually_exclusive_group()
    tokens.add_argument("--token", help=f"the admin token (default: ${TOKEN_VARIABLE})")
    tokens.add_argument("--token-file", metavar="PATH", help="read the admin token from PATH")
    parser.add_argument(
        "--config", metavar="FILE", help="the server's TOML file: admin, admin-token(-file)"
    )
    parser.add_argument(
        "--json", action="store_true", help="ask for JSON replies, and print them as they come"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"wait this long to connect and for each reply (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, help="an admin command and its arguments"
    )
    return parser


def topOptions(words: list[str], asJSON: bool) -> argparse.Namespace:
    """
    The options of C{recyclerctl top} (C{words} follow C{top}).

    @raise UsageProblem: for C{--json}, or an interval that is not above 0.
    """
    parser = argparse.ArgumentParser(
        prog="recyclerctl top", description="Show the workers, refreshed every second (q quits)."
    )
    parser.add_argument("--once", action="store_true", help="print one frame and exit")
    parser.add_argument(
        "--interval", type=float, default=1.0, metavar="SECONDS", help="seconds between frames"
    )
    options = parser.parse_args(words)
    if asJSON:
        raise UsageProblem("top shows a screen: use 'list --json' for JSON")
    if not 0 < options.interval < float("inf"):
        raise UsageProblem(f"top --interval must be above 0, got {options.interval:g}")
    return options


def resolve(args: argparse.Namespace, environ: Mapping[str, str]) -> Target:
    """
    The admin port and token the options, the environment and the config file give.

    @raise UsageProblem: if one of them is unusable.
    """
    config = _configFile(args.config) if args.config else {}
    endpoint = args.admin or environ.get(ADMIN_VARIABLE) or config.get("admin") or DEFAULT_ADMIN
    if args.token is not None:
        token: str | None = args.token
    elif args.token_file is not None:
        token = _readToken(args.token_file, "--token-file")
    elif environ.get(TOKEN_VARIABLE):
        token = environ[TOKEN_VARIABLE]
    elif "admin-token" in config and "admin-token-file" in config:
        raise UsageProblem(f"{args.config}: give admin-token or admin-token-file, not both")
    elif "admin-token-file" in config:
        token = _readToken(config["admin-token-file"], f"{args.config}: admin-token-file")
    else:
        token = config.get("admin-token")
    if token is not None and (not token or token != "".join(token.split())):
        raise UsageProblem("the admin token must be one word, without spaces")
    if not 0 < args.timeout < float("inf"):
        raise UsageProblem(f"--timeout must be above 0, got {args.timeout:g}")
    try:
        address = parseEndpoint(endpoint)
    except EndpointError as e:
        raise UsageProblem(f"admin endpoint: {e}") from None
    return Target(address, token, args.timeout)


def _configFile(path: str) -> dict[str, Any]:
    """The admin settings of the server's config file (its other keys are the server's)."""
    try:
        data = loadFile(path)
    except SettingsError as e:
        raise UsageProblem(str(e)) from None
    keys = ("admin", "admin-token", "admin-token-file")
    for key in keys:
        if key in data and not isinstance(data[key], str):
            raise UsageProblem(f"{path}: {key}: must be a string, not {data[key]!r}")
    return {key: data[key] for key in keys if key in data}


def _readToken(path: str, where: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise UsageProblem(f"{where}: {path}: {e.strerror or e}") from None
