"""The tree shows what runs where: master, worker and admin meet only in recycler.wire."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "recycler"

MAX_LINES = 320
"""About 300 lines: a module longer than this has more than one job."""

TEST_CASE_NAME = re.compile(r"# -\*- test-case-name: tests(\.\w+)+ -\*-$")
"""The first line trial's C{--testmodule} reads."""

ALLOWED: dict[str, tuple[str, ...]] = {
    "recycler.wire": (),
    "recycler.logs": (),
    "recycler.master": ("recycler.wire", "recycler.master"),
    "recycler.worker": ("recycler.wire", "recycler.worker"),
    "recycler.admin": ("recycler.admin", "recycler.master"),
    "recycler.ctl": ("recycler.ctl", "recycler.settingsfile"),
    "recycler.settingsfile": (),
    "recycler.settings": ("recycler.settingsfile", "recycler.checkconfig"),
    "recycler.checkconfig": ("recycler.settingsfile", "recycler.settings"),
}
"""What each side may import from this project (by module-name prefix)."""


def moduleName(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {moduleName(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def projectImports(source: str) -> set[str]:
    """The recycler names that C{source} imports, wherever in the module."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in imported if name.split(".")[0] == "recycler"}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


class ProcessBoundaryTests(SynchronousTestCase):
    """Master-side and worker-side code import each other only through the wire."""

    def test_eachSideImportsOnlyWhatItMay(self) -> None:
        """No import crosses from master/ into worker/ or back, nor from admin/ into worker/."""
        crossings = []
        for name, path in modules().items():
            side = next((p for p in ALLOWED if within(name, p)), None)
            if side is None:
                continue
            for imported in projectImports(path.read_text()):
                if not any(within(imported, allowed) for allowed in ALLOWED[side]):
                    crossings.append(f"{name} imports {imported}")
        self.assertEqual(crossings, [])

    def test_theCheckSeesCrossings(self) -> None:
        """The walk finds imports in a function body too (so the test above can fail)."""
        source = "import os\ndef f():\n    from recycler.worker import tls\n"
        self.assertEqual(projectImports(source), {"recycler.worker.tls"})


class ModuleSizeTests(SynchronousTestCase):
    """Each module is small and says where its tests are."""

    def test_noModuleOverMaxLines(self) -> None:
        """No module is over about 300 lines."""
        long = {
            name: n
            for name, path in modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES
        }
        self.assertEqual(long, {})

    def test_everyModuleNamesItsTests(self) -> None:
        """Every module with code starts with Twisted's C{test-case-name} line, for trial."""
        missing = [
            name
            for name, path in modules().items()
            if path.stem not in ("__init__", "__main__")
            and not TEST_CASE_NAME.match(path.read_text().partition("\n")[0])
        ]
        self.assertEqual(missing, [])
