"""Tests of L{recycler.master.lifecycle}: the worker state machine's one table."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from recycler.master.lifecycle import (
    PHASES,
    TRANSITIONS,
    IllegalTransition,
    Input,
    WorkerState,
    nextState,
)

S = WorkerState

PROPERTIES = {
    # state: (counted, serving, signallable, phase)
    S.STARTING: (True, False, True, "starting"),
    S.READY: (True, True, True, "ready"),
    S.RETIRING: (False, True, True, "ready"),
    S.DRAINING: (False, False, True, "draining"),
    S.KILLED: (False, False, True, "draining"),
    S.GONE: (False, False, False, "draining"),
    S.EXITED: (False, False, False, "exited"),
}


class TransitionTests(SynchronousTestCase):
    """L{nextState} follows L{TRANSITIONS} and refuses everything else."""

    def test_tableTransitions(self) -> None:
        """Every row of the table is what L{nextState} returns."""
        for (state, happened), after in TRANSITIONS.items():
            self.assertIs(nextState(state, happened), after, (state, happened))

    def test_everyOtherPairIsIllegal(self) -> None:
        """Every (state, input) pair not in the table raises L{IllegalTransition}."""
        illegal = [(s, i) for s in WorkerState for i in Input if (s, i) not in TRANSITIONS]
        self.assertTrue(illegal)
        for state, happened in illegal:
            with self.assertRaises(IllegalTransition, msg=(state, happened)) as caught:
                nextState(state, happened)
            self.assertIn(state.value, str(caught.exception))
            self.assertIn(happened.value, str(caught.exception))

    def test_theLifeOfAWorker(self) -> None:
        """The usual lives: ready, retired, drained, exited; or killed; or dead on its own."""
        self.assertIs(nextState(S.STARTING, Input.READY), S.READY)
        self.assertIs(nextState(S.READY, Input.RETIRE), S.RETIRING)
        self.assertIs(nextState(S.RETIRING, Input.DRAIN), S.DRAINING)
        self.assertIs(nextState(S.DRAINING, Input.KILL), S.KILLED)
        self.assertIs(nextState(S.KILLED, Input.PROCESS_EXITED), S.GONE)
        self.assertIs(nextState(S.GONE, Input.ENDED), S.EXITED)
        self.assertIs(nextState(S.STARTING, Input.ENDED), S.EXITED)

    def test_nothingLeavesExited(self) -> None:
        """EXITED is final: no input moves a worker out of it."""
        self.assertEqual([key for key in TRANSITIONS if key[0] is S.EXITED], [])
        for happened in Input:
            self.assertRaises(IllegalTransition, nextState, S.EXITED, happened)

    def test_exitedIsReachableFromEveryState(self) -> None:
        """Whatever state a worker is in, some path through the table ends in EXITED."""
        for start in WorkerState:
            seen = {start}
            frontier = [start]
            while frontier:
                state = frontier.pop()
                for (source, _), after in TRANSITIONS.items():
                    if source is state and after not in seen:
                        seen.add(after)
                        frontier.append(after)
            self.assertIn(S.EXITED, seen, start)

    def test_everyStateButExitedEndsAtOnce(self) -> None:
        """A process can end in any live state: ENDED leads straight to EXITED."""
        for state in WorkerState:
            if state is not S.EXITED:
                self.assertIs(nextState(state, Input.ENDED), S.EXITED)

    def test_onlyALiveProcessIsSignalled(self) -> None:
        """KILL is accepted only while the process has not exited, and not twice."""
        for state in WorkerState:
            if (state, Input.KILL) in TRANSITIONS:
                self.assertTrue(state.signallable, state)
                self.assertIsNot(state, S.KILLED)


class StatePropertyTests(SynchronousTestCase):
    """What each state means to the pool and to operators."""

    def test_everyStateIsDescribed(self) -> None:
        """The table below covers every state."""
        self.assertEqual(set(PROPERTIES), set(WorkerState))

    def test_counted(self) -> None:
        """Only starting and ready workers count toward the target."""
        for state, (counted, _, _, _) in PROPERTIES.items():
            self.assertIs(state.counted, counted, state)

    def test_serving(self) -> None:
        """Ready and retiring workers accept connections."""
        for state, (_, serving, _, _) in PROPERTIES.items():
            self.assertIs(state.serving, serving, state)

    def test_signallable(self) -> None:
        """A worker's pid may be signalled until its process has exited."""
        for state, (_, _, signallable, _) in PROPERTIES.items():
            self.assertIs(state.signallable, signallable, state)

    def test_phase(self) -> None:
        """Operators see four phases; a retiring worker is still ready, a killed one draining."""
        for state, (_, _, _, phase) in PROPERTIES.items():
            self.assertEqual(state.phase, phase, state)

    def test_phasesOfLiveWorkers(self) -> None:
        """L{PHASES} lists the phases of every state but EXITED, in listing order."""
        live = {state.phase for state in WorkerState if state is not S.EXITED}
        self.assertEqual(set(PHASES), live)
        self.assertEqual(PHASES, ("starting", "ready", "draining"))
