"""Tests of L{recycler.ctl.screen}: drawing frames, once or until q."""

from __future__ import annotations

import io

from twisted.trial.unittest import SynchronousTestCase

from recycler.ctl.screen import CLEAR, AnsiScreen, CursesScreen, live, once
from recycler.ctl.top import Sample


class FakeWindow:
    """What L{CursesScreen} uses of a curses window; writing the last line fails."""

    def __init__(self, keys: list[int]) -> None:
        self.keys = keys
        self.lines: dict[int, str] = {}
        self.timeouts: list[int] = []
        self.refreshed = 0

    def erase(self) -> None:
        self.lines.clear()

    def getmaxyx(self) -> tuple[int, int]:
        return 3, 10

    def addnstr(self, y: int, x: int, text: str, n: int) -> None:
        if y == 2:
            raise OSError("curses error: the bottom-right cell")
        self.lines[y] = text[:n]

    def refresh(self) -> None:
        self.refreshed += 1

    def timeout(self, milliseconds: int) -> None:
        self.timeouts.append(milliseconds)

    def getch(self) -> int:
        return self.keys.pop(0) if self.keys else -1


class FakeScreen:
    """Records frames; asks to stop after C{frames} of them."""

    def __init__(self, frames: int) -> None:
        self.frames: list[list[str]] = []
        self.left = frames

    def show(self, lines: list[str]) -> None:
        self.frames.append(lines)

    def pause(self, seconds: float) -> bool:
        self.left -= 1
        return self.left > 0


class Samples:
    """Samples one second apart, each worker having served 10 more."""

    def __init__(self) -> None:
        self.taken = 0

    def __call__(self) -> Sample:
        self.taken += 1
        workers = [
            {"id": 1, "pid": 2, "state": "ready", "age": 1.0, "ttlLeft": None,
             "served": 10 * self.taken, "inFlight": 0, "rssBytes": None, "reason": None}
        ]  # fmt: skip
        return Sample(float(self.taken), {"target": 1, "workers": workers}, 10 * self.taken)


class ScreenTests(SynchronousTestCase):
    """Frames reach the screen."""

    def test_ansi(self) -> None:
        """Each frame clears the screen first; pausing sleeps."""
        stream, slept = io.StringIO(), []
        screen = AnsiScreen(stream, slept.append)
        screen.show(["a", "b"])
        self.assertTrue(screen.pause(1.0))
        self.assertEqual((stream.getvalue(), slept), (CLEAR + "a\nb\n", [1.0]))

    def test_curses(self) -> None:
        """Lines are cut to the window; the last cell's error is ignored; q quits."""
        window = FakeWindow([ord("x"), ord("q")])
        screen = CursesScreen(window, OSError)
        screen.show(["0123456789abc", "b", "c", "d"])
        self.assertEqual((window.lines, window.refreshed), ({0: "012345678", 1: "b"}, 1))
        self.assertTrue(screen.pause(1.0))
        self.assertFalse(screen.pause(0.5))
        self.assertEqual(window.timeouts, [1000, 500])

    def test_liveUntilTheScreenStops(self) -> None:
        """A frame per sample; rates from the second frame on."""
        screen = FakeScreen(frames=3)
        live(Samples(), screen, 1.0, lambda: "heading")
        self.assertEqual(len(screen.frames), 3)
        self.assertIn("10.0 req/s", screen.frames[1][1])
        self.assertTrue(all(frame[0] == "heading" for frame in screen.frames))

    def test_once(self) -> None:
        """One frame from two samples an interval apart."""
        samples, slept = Samples(), []
        lines = once(samples, slept.append, 0.5, lambda: "heading")
        self.assertEqual((samples.taken, slept), (2, [0.5]))
        self.assertIn("10.0 req/s", lines[1])
