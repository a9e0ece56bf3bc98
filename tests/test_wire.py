"""Tests of the master-worker wire: the line codec and the C{--app} value."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from recycler import wire


class CodecTests(SynchronousTestCase):
    """One JSON object per line, with a string C{kind}."""

    def test_roundTrip(self) -> None:
        """A message encodes to one line and decodes to its kind and fields."""
        line = wire.encode(wire.Event.STATUS, served=3, inFlight=1)
        self.assertEqual(line.count(b"\n"), 1)
        self.assertTrue(line.endswith(b"\n"))
        self.assertEqual(
            wire.decode(line.rstrip(b"\n")), {"kind": "status", "served": 3, "inFlight": 1}
        )

    def test_kindsCompareAsTheirWireNames(self) -> None:
        """A decoded kind equals its enum member, so either side may compare them."""
        self.assertEqual(wire.decode(wire.encode(wire.Command.DRAIN))["kind"], wire.Command.DRAIN)

    def test_notAMessage(self) -> None:
        """Lines that are not JSON objects with a string kind raise ValueError."""
        for line in (b"", b"drain", b"[1]", b'{"kind": 3}', b'{"served": 1}'):
            self.assertRaises(ValueError, wire.decode, line)


class AppNameTests(SynchronousTestCase):
    """C{--app} is C{package.module:attribute} or C{package.module.attribute}."""

    def test_split(self) -> None:
        """The module and the (dotted) attribute path."""
        self.assertEqual(wire.splitAppName("pkg.mod:app.wsgi"), ("pkg.mod", "app.wsgi"))
        self.assertEqual(wire.splitAppName("mod:app"), ("mod", "app"))

    def test_splitDotted(self) -> None:
        """Twisted's dotted form: the module is everything up to the last dot."""
        self.assertEqual(wire.splitAppName("pkg.mod.app"), ("pkg.mod", "app"))
        self.assertEqual(wire.splitAppName("mod.app"), ("mod", "app"))

    def test_bad(self) -> None:
        """A missing or empty part is a ValueError that shows the expected form and the value."""
        for name in ("nocolon", ":app", "mod:", "", ".app", "mod.", "pkg..app", "a:b.", "a:b:c"):
            error = self.assertRaises(ValueError, wire.splitAppName, name)
            self.assertIn(repr(name), str(error))
            self.assertIn("expected 'package.module:name', got", str(error))
