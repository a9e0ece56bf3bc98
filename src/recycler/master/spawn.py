# -*- test-case-name: tests.master.test_spawn -*-
"""How the master starts one worker process: its command line and its fd layout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import attrs
from twisted.internet.interfaces import IProcessProtocol, IReactorProcess

from recycler import wire
from recycler.master.stats import ForkServerStatus

WORKER_MODULE = "recycler.worker"
"""What C{python -m} runs in an exec'd worker."""


class Forker(Protocol):
    """Forks workers (L{recycler.master.forking.ForkServers})."""

    def status(self) -> ForkServerStatus:
        """The fork server, for operators."""

    def fork(self, protocol: IProcessProtocol, args: Sequence[str]) -> object:
        """
        Fork a worker running with C{args} for C{protocol}.

        @raise OSError: if it cannot.
        """


class SpawnedWorker(Protocol):
    """
    A worker's process protocol (an L{IProcessProtocol} provider, a
    L{recycler.master.handle.WorkerHandle}), which knows the worker's id.
    """

    workerId: int


class Listeners(Protocol):
    """The shared listening sockets (L{recycler.master.listeners.SharedListeners})."""

    def filenos(self) -> list[int]:
        """The bound sockets' fds."""


@attrs.frozen
class WorkerCommand:
    """
    How to start one worker process.

    @ivar executable: The interpreter an exec'd worker runs (normally C{sys.executable}).
    @ivar args: The worker's options, less C{--listeners}.
    @ivar env: An exec'd worker's environment.
    @ivar listeners: The shared sockets, read at each spawn: the pool spawns
        only once the service has bound them.
    @ivar forker: Forks workers from a pre-imported fork server, or L{None}
        to exec each worker (C{--spawn exec}).
    """

    executable: str
    args: Sequence[str]
    env: Mapping[str, str]
    listeners: Listeners
    forker: Forker | None = None

    def spawn(self, reactor: IReactorProcess, worker: SpawnedWorker) -> None:
        """
        Start one worker process for C{worker}: forked, or exec'd, told its id.

        @raise OSError: if it cannot be started (out of processes, memory...).
        """
        if self.forker is not None:
            self.forker.fork(worker, self.workerArgs(worker.workerId))
            return
        argv = self.argv(worker.workerId)
        reactor.spawnProcess(
            worker, self.executable, argv, env=dict(self.env), childFDs=self.childFDs()
        )

    @property
    def spawnMode(self) -> str:
        """C{"fork"} or C{"exec"}."""
        return "exec" if self.forker is None else "fork"

    def forkerStatus(self) -> ForkServerStatus | None:
        """The fork server's status, when workers are forked."""
        return None if self.forker is None else self.forker.status()

    def workerArgs(self, workerId: int | None = None) -> list[str]:
        """
        The worker's options, telling it how many listening sockets it gets,
        and its id (for its process title), if given.
        """
        args = [*self.args, "--listeners", str(len(self.listeners.filenos()))]
        return args if workerId is None else [*args, "--id", str(workerId)]

    def argv(self, workerId: int | None = None) -> list[str]:
        """The command line of an exec'd worker."""
        return [self.executable, "-m", WORKER_MODULE, *self.workerArgs(workerId)]

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
