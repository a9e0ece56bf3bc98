"""Tests of L{recycler.worker.apps}: loading C{--app} and finding out its kind."""

from __future__ import annotations

from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.wsgi import WSGIResource

from recycler.worker.apps import loadApp, serverFor
from recycler.worker.drain.http import DrainableSite
from recycler.worker.drain.tcp import DrainableFactory
from recycler.worker.errors import AppError


def wsgiApp(environ: dict, start_response: object) -> list[bytes]:
    start_response("200 OK", [])
    return [b"hi"]


class CallableWSGI:
    """A WSGI app that is an instance, not a function."""

    def __call__(self, environ: dict, start_response: object) -> list[bytes]:
        return wsgiApp(environ, start_response)


class Echo(Protocol):
    """Sends back what it receives."""

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class EchoFactory(Factory):
    """A plain protocol factory, and a class callable without arguments."""

    protocol = Echo


class ServerForTests(SynchronousTestCase):
    """L{serverFor} serves each kind of app with the right drainable factory."""

    def test_resource(self) -> None:
        """A twisted.web resource is served by a drainable site."""
        served = serverFor(Resource(), Clock())
        self.assertIsInstance(served.factory, DrainableSite)
        self.assertEqual(served.description, "twisted.web resource")
        self.assertIsNone(served.threadPool)

    def test_wsgi(self) -> None:
        """A callable taking (environ, start_response) is served as WSGI on a sized thread pool."""
        for app in [wsgiApp, CallableWSGI()]:
            served = serverFor(app, Clock(), threads=7)
            self.assertIsInstance(served.factory.resource, WSGIResource)
            self.assertEqual(served.threadPool.max, 7)
            self.assertEqual(served.description, "WSGI app on 7 threads")

    def test_protocolFactory(self) -> None:
        """Any protocol factory is served by a drainable wrapping factory."""
        factory = EchoFactory()
        served = serverFor(factory, Clock())
        self.assertIsInstance(served.factory, DrainableFactory)
        self.assertIs(served.factory.wrappedFactory, factory)

    def test_callableReturningAnApp(self) -> None:
        """A callable without arguments (here a class) is called and its result served."""
        for app, kind in [(Resource, DrainableSite), (EchoFactory, DrainableFactory)]:
            self.assertIsInstance(serverFor(app, Clock()).factory, kind)

    def test_unknownKind(self) -> None:
        """Anything else is refused with a message naming the kinds that work."""
        for app in [42, "text", lambda x: x, lambda: 42, lambda: lambda: 1]:
            error = self.assertRaises(AppError, serverFor, app, Clock())
            self.assertIn("not a twisted.web resource, a WSGI app", str(error))

    def test_factoryCallableRaising(self) -> None:
        """A factory callable that raises gives a clear error."""

        def broken() -> None:
            raise RuntimeError("no database")

        error = self.assertRaises(AppError, serverFor, broken, Clock())
        self.assertIn("raised RuntimeError: no database", str(error))


class LoadAppTests(SynchronousTestCase):
    """L{loadApp} imports C{package.module:name}."""

    def test_loadErrors(self) -> None:
        """Malformed names, import errors and missing attributes are reported in one line."""
        for name, message in [
            ("no_such_module_xyz:app", "cannot import 'no_such_module_xyz': ModuleNotFoundError"),
            ("recycler.demo:nothing", "'recycler.demo' has no attribute 'nothing'"),
            ("recycler.demo", "expected 'package.module:name', got 'recycler.demo'"),
            (":resource", "expected 'package.module:name'"),
        ]:
            error = self.assertRaises(AppError, loadApp, name)
            self.assertIn(message, str(error))
            self.assertNotIn("\n", str(error))

    def test_loadDottedAttribute(self) -> None:
        """The attribute part may be dotted."""
        self.assertEqual(loadApp("recycler.demo:resource.body"), b"Request done\n")
