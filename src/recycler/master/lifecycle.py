# -*- test-case-name: tests.master.test_lifecycle -*-
"""A worker's life as the master sees it: states, the events that move it, one table.

Every transition of every worker is a row of L{TRANSITIONS}; anything else is a
bug and raises L{IllegalTransition}. The pool asks the state alone whether a
worker counts toward its target (L{WorkerState.counted}).
"""

from __future__ import annotations

import enum


class WorkerState(enum.Enum):
    """Where a worker is in its life."""

    STARTING = "starting"
    """Spawned; not ready yet."""
    READY = "ready"
    """Serving."""
    RETIRING = "retiring"
    """Serving while its replacement starts; it drains once that one is ready."""
    DRAINING = "draining"
    """Asked to stop accepting and finish its work."""
    KILLED = "killed"
    """Sent SIGKILL; not reaped yet."""
    GONE = "gone"
    """Its process exited; its output pipes may still be open."""
    EXITED = "exited"
    """Reaped; it has left the pool."""

    @property
    def counted(self) -> bool:
        """Whether a worker in this state counts toward the pool's target."""
        return self in (WorkerState.STARTING, WorkerState.READY)

    @property
    def serving(self) -> bool:
        """Whether a worker in this state accepts connections."""
        return self in (WorkerState.READY, WorkerState.RETIRING)

    @property
    def signallable(self) -> bool:
        """Whether its pid is still ours to signal (the process has not exited)."""
        return self not in (WorkerState.GONE, WorkerState.EXITED)

    @property
    def phase(self) -> str:
        """What operators see: C{starting}, C{ready} (serving), C{draining} or C{exited}."""
        if self is WorkerState.STARTING:
            return "starting"
        if self.serving:
            return "ready"
        if self is WorkerState.EXITED:
            return "exited"
        return "draining"


PHASES = ("starting", "ready", "draining")
"""The phases of live workers, in the order every listing shows them."""


class Input(enum.Enum):
    """What happens to a worker."""

    READY = "ready"
    """It reported ready."""
    RETIRE = "retire"
    """The pool started its replacement."""
    DRAIN = "drain"
    """The master asked it to drain."""
    KILL = "kill"
    """The master sent SIGKILL."""
    PROCESS_EXITED = "process exited"
    """Its process exited."""
    ENDED = "ended"
    """Its process exited and its pipes are closed."""


_S = WorkerState
TRANSITIONS: dict[tuple[WorkerState, Input], WorkerState] = {
    (_S.STARTING, Input.READY): _S.READY,
    (_S.STARTING, Input.DRAIN): _S.DRAINING,
    (_S.READY, Input.RETIRE): _S.RETIRING,
    (_S.READY, Input.DRAIN): _S.DRAINING,
    (_S.RETIRING, Input.DRAIN): _S.DRAINING,
    **{(state, Input.KILL): _S.KILLED for state in (_S.STARTING, _S.READY, _S.RETIRING)},
    (_S.DRAINING, Input.KILL): _S.KILLED,
    **{
        (state, Input.PROCESS_EXITED): _S.GONE
        for state in (_S.STARTING, _S.READY, _S.RETIRING, _S.DRAINING, _S.KILLED)
    },
    **{
        (state, Input.ENDED): _S.EXITED
        for state in (_S.STARTING, _S.READY, _S.RETIRING, _S.DRAINING, _S.KILLED, _S.GONE)
    },
}
"""(state, input) -> next state: the whole life of a worker."""


class IllegalTransition(Exception):
    """An input that the worker's state does not accept: a bug in the master."""


def nextState(state: WorkerState, happened: Input) -> WorkerState:
    """
    The state after C{happened}.

    @raise IllegalTransition: if C{state} has no such transition.
    """
    try:
        return TRANSITIONS[(state, happened)]
    except KeyError:
        raise IllegalTransition(f"{happened.value!r} while {state.value}") from None
