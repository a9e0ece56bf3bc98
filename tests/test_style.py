"""The code stays ruff-clean: lint and formatting are part of the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_ruff(command):
    """ruff reports nothing for src/, tests/, bench/ and examples/."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "src", "tests", "bench", "examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
