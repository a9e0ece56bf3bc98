"""Test doubles and helpers for code built on recycler.

L{FakeProcessReactor} drives a L{recycler.master.pool.WorkerPool} without
processes; L{recycler.testing.server.Server} runs the real master in a
subprocess.
"""

from recycler.testing.fakes import FakeProcess, FakeProcessReactor

__all__ = ["FakeProcess", "FakeProcessReactor"]
