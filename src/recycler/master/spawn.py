# -*- test-case-name: tests.master.test_spawn -*-
"""How the master starts one worker process: its command line and its fd layout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs
from twisted.internet.interfaces import IProcessProtocol, IReactorProcess

from recycler import wire


class Listeners(Protocol):
    """The shared listening sockets (L{recycler.master.listeners.SharedListeners})."""

    def filenos(self) -> list[int]:
        """The bound sockets' fds."""


@attrs.frozen
class WorkerCommand:
    """
    How to start one worker process.

    @ivar executable: Program to run (normally C{sys.executable}).
    @ivar args: Full argv, C{args[0]} included, less C{--listeners}.
    @ivar env: The worker's environment.
    @ivar listeners: The shared sockets, read at each spawn: the pool spawns
        only once the service has bound them.
    """

    executable: str
    args: Sequence[str]
    env: Mapping[str, str]
    listeners: Listeners

    def spawn(self, reactor: IReactorProcess, worker: IProcessProtocol) -> None:
        """
        Start one worker process for C{worker}.

        @raise OSError: if it cannot be started (out of processes, memory...).
        """
        reactor.spawnProcess(
            worker, self.executable, self.argv(), env=dict(self.env), childFDs=self.childFDs()
        )

    def argv(self) -> list[str]:
        """C{args}, telling the worker how many listening sockets it gets."""
        return [*self.args, "--listeners", str(len(self.listeners.filenos()))]

    def childFDs(self) -> dict[int, int | str]:
        """
        The C{childFDs} mapping for C{spawnProcess}: stdin a pipe the master
        closes at once, stdout and stderr relayed, the command and event pipes,
        then the shared sockets (L{recycler.wire}).
        """
        fds: dict[int, int | str] = {
            0: "w",
            1: "r",
            2: "r",
            wire.COMMAND_FD: "w",
            wire.EVENT_FD: "r",
        }
        for offset, fd in enumerate(self.listeners.filenos()):
            fds[wire.FIRST_LISTENER_FD + offset] = fd
        return fds
