"""Tests of L{recycler.ctl.endpoint}: the server's endpoint syntax, read by a client."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from recycler.ctl.endpoint import (
    DEFAULT_ADMIN,
    Address,
    EndpointError,
    parseEndpoint,
    splitEndpoint,
)


class ParseEndpointTests(SynchronousTestCase):
    """What the server's --admin takes is where the client connects."""

    def test_serverForms(self) -> None:
        """tcp:PORT is loopback; interface= is the host; the default is 127.0.0.1:10081."""
        self.assertEqual(parseEndpoint(DEFAULT_ADMIN), Address("127.0.0.1", 10081))
        self.assertEqual(parseEndpoint("tcp:10081"), Address("127.0.0.1", 10081))
        self.assertEqual(parseEndpoint("tcp:port=9:interface=10.0.0.2"), Address("10.0.0.2", 9))
        self.assertEqual(parseEndpoint("tcp:9:backlog=5"), Address("127.0.0.1", 9))

    def test_clientForms(self) -> None:
        """tcp:HOST:PORT and tcp:host=HOST:port=PORT, as Twisted's clients take them."""
        self.assertEqual(parseEndpoint("tcp:example.org:9"), Address("example.org", 9))
        self.assertEqual(parseEndpoint("tcp:host=example.org:port=9"), Address("example.org", 9))

    def test_everyInterfaceIsReachedOnLoopback(self) -> None:
        """A server bound to 0.0.0.0 or :: is reached on 127.0.0.1 or ::1."""
        self.assertEqual(parseEndpoint("tcp:9:interface=0.0.0.0"), Address("127.0.0.1", 9))
        self.assertEqual(parseEndpoint(r"tcp6:9:interface=\:\:"), Address("::1", 9))
        self.assertEqual(parseEndpoint("tcp6:9"), Address("::1", 9))

    def test_escapedColons(self) -> None:
        r"""C{\:} is a colon inside a value, as in Twisted."""
        self.assertEqual(splitEndpoint(r"tcp6:9:interface=\:\:1"), ["tcp6", "9", "interface=::1"])
        self.assertEqual(str(parseEndpoint(r"tcp6:9:interface=\:\:1")), "[::1]:9")

    def test_unix(self) -> None:
        """unix:PATH, with the server's options or the address= keyword."""
        expected = Address(path="/run/recycler/admin.sock")
        self.assertEqual(parseEndpoint("unix:/run/recycler/admin.sock:mode=600"), expected)
        self.assertEqual(parseEndpoint("unix:address=/run/recycler/admin.sock"), expected)
        self.assertEqual(str(expected), "unix:/run/recycler/admin.sock")

    def test_errors(self) -> None:
        """none, other kinds, bad ports and missing paths are refused with a reason."""
        cases = {
            "none": "the admin port is off",
            "ssl:9": "use tcp:[HOST:]PORT",
            "tcp:x": "the port must be a number, got 'x'",
            "tcp:70000": "the port must be 1 to 65535, got 70000",
            "tcp": "the port must be a number",
            "tcp:a:b:c": "too many fields",
            "unix:": "no socket path",
        }
        for text, message in cases.items():
            with self.assertRaises(EndpointError) as raised:
                parseEndpoint(text)
            self.assertIn(message, str(raised.exception), text)
