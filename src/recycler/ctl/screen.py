# -*- test-case-name: tests.ctl.test_screen -*-
"""Where C{recyclerctl top} draws: a curses window, else a terminal cleared with ANSI codes.

L{live} samples, draws a frame and pauses, until the screen says to stop (q)
or Ctrl-C; L{once} prints one frame, whose rates come from two samples an
interval apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from recycler.ctl.top import Sample, frame

CLEAR = "\x1b[H\x1b[2J"
"""Cursor home, clear the screen."""

QUIT_KEYS = frozenset(map(ord, "qQ"))


class Screen(Protocol):
    """Shows frames, and waits between them."""

    def show(self, lines: list[str]) -> None:
        """Replace what is on the screen with C{lines}."""

    def pause(self, seconds: float) -> bool:
        """Wait up to C{seconds}; L{False} if the user asked to quit."""


class AnsiScreen:
    """A terminal (or any stream) that each frame clears and rewrites."""

    def __init__(self, stream: TextIO, sleep: Callable[[float], None] = time.sleep) -> None:
        self.stream = stream
        self.sleep = sleep

    def show(self, lines: list[str]) -> None:
        """Clear the screen, write C{lines}."""
        self.stream.write(CLEAR + "\n".join(lines) + "\n")
        self.stream.flush()

    def pause(self, seconds: float) -> bool:
        """Sleep; only Ctrl-C stops."""
        self.sleep(seconds)
        return True


class CursesScreen:
    """A curses window: lines cut to its size; q quits, any other key refreshes at once."""

    def __init__(self, window: Any, error: type[Exception]) -> None:
        """
        @param window: The window (C{curses.wrapper} gives it).
        @param error: C{curses.error}, which writing the last cell of the window raises.
        """
        self.window = window
        self.error = error

    def show(self, lines: list[str]) -> None:
        """Redraw the window with C{lines}, as many as fit."""
        self.window.erase()
        height, width = self.window.getmaxyx()
        for y, line in enumerate(lines[:height]):
            try:
                self.window.addnstr(y, 0, line, max(width - 1, 0))
            except self.error:
                pass
        self.window.refresh()

    def pause(self, seconds: float) -> bool:
        """Wait for a key, C{seconds} at most."""
        self.window.timeout(max(int(seconds * 1000), 0))
        return self.window.getch() not in QUIT_KEYS


def live(
    sample: Callable[[], Sample], screen: Screen, interval: float, heading: Callable[[], str]
) -> None:
    """Show a frame each C{interval} until the screen says to stop."""
    previous = None
    while True:
        current = sample()
        screen.show(frame(current, previous, heading()))
        previous = current
        if not screen.pause(interval):
            return


def once(
    sample: Callable[[], Sample],
    sleep: Callable[[float], None],
    interval: float,
    heading: Callable[[], str],
) -> list[str]:
    """One frame, its rates measured over C{interval}."""
    first = sample()
    sleep(interval)
    return frame(sample(), first, heading())


def show(
    sample: Callable[[], Sample],
    interval: float,
    heading: Callable[[], str],
    stream: TextIO,
    onlyOnce: bool,
) -> None:
    """
    Print one frame (C{onlyOnce}), or draw frames until q or Ctrl-C: with curses
    on a terminal, else with ANSI clear-screen codes.
    """
    if onlyOnce:
        print("\n".join(once(sample, time.sleep, interval, heading)), file=stream)
        return
    try:
        import curses
    except ImportError:
        curses = None  # type: ignore[assignment]
    try:
        if curses is not None and stream.isatty():
            curses.wrapper(lambda window: live(sample, _curses(window, curses), interval, heading))
        else:
            live(sample, AnsiScreen(stream), interval, heading)
    except KeyboardInterrupt:
        pass


def _curses(window: Any, curses: Any) -> CursesScreen:
    try:
        curses.curs_set(0)
    except curses.error:
        pass
    return CursesScreen(window, curses.error)
