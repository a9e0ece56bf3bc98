"""Unit tests of the one-shot Completion."""

from __future__ import annotations

from recycler.completion import Completion


def test_waitersFireOnce():
    """Every waiter fires when the completion fires; later waiters fire at once."""
    completion = Completion()
    first, second = completion.wait(), completion.wait()
    assert not first.called
    completion.fire()
    completion.fire()
    assert first.called and second.called
    assert completion.wait().called
