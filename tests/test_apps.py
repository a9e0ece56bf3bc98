"""Unit tests of app loading and kind detection."""

from __future__ import annotations

import re

import pytest
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.web.resource import Resource
from twisted.web.wsgi import WSGIResource

from recycler.worker.apps import AppError, loadApp, serverFor
from recycler.worker.drain.http import DrainableSite
from recycler.worker.drain.tcp import DrainableFactory


def wsgiApp(environ, start_response):
    start_response("200 OK", [])
    return [b"hi"]


class CallableWSGI:
    def __call__(self, environ, start_response):
        return wsgiApp(environ, start_response)


class Echo(Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class EchoFactory(Factory):
    protocol = Echo


def test_resource():
    """A twisted.web resource is served by a drainable site."""
    served = serverFor(Resource(), Clock())
    assert isinstance(served.factory, DrainableSite)
    assert served.description == "twisted.web resource"
    assert served.threadPool is None


@pytest.mark.parametrize("app", [wsgiApp, CallableWSGI()])
def test_wsgi(app):
    """A callable taking (environ, start_response) is served as WSGI on a sized thread pool."""
    served = serverFor(app, Clock(), threads=7)
    assert isinstance(served.factory.resource, WSGIResource)
    assert served.threadPool.max == 7
    assert served.description == "WSGI app on 7 threads"


def test_protocolFactory():
    """Any protocol factory is served by a drainable wrapping factory."""
    factory = EchoFactory()
    served = serverFor(factory, Clock())
    assert isinstance(served.factory, DrainableFactory)
    assert served.factory.wrappedFactory is factory


@pytest.mark.parametrize(
    ("app", "kind"), [(Resource, DrainableSite), (EchoFactory, DrainableFactory)]
)
def test_callableReturningAnApp(app, kind):
    """A callable without arguments (here a class) is called and its result served."""
    assert isinstance(serverFor(app, Clock()).factory, kind)


@pytest.mark.parametrize("app", [42, "text", lambda x: x, lambda: 42, lambda: lambda: 1])
def test_unknownKind(app):
    """Anything else is refused with a message naming the kinds that work."""
    with pytest.raises(AppError, match=re.escape("not a twisted.web resource, a WSGI app")):
        serverFor(app, Clock())


def test_factoryCallableRaising():
    """A factory callable that raises gives a clear error."""

    def broken():
        raise RuntimeError("no database")

    with pytest.raises(AppError, match="raised RuntimeError: no database"):
        serverFor(broken, Clock())


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_such_module_xyz:app", "cannot import 'no_such_module_xyz': ModuleNotFoundError"),
        ("recycler.demo:nothing", "'recycler.demo' has no attribute 'nothing'"),
        ("recycler.demo", "expected 'package.module:name'"),
    ],
)
def test_loadErrors(name, message):
    """Import errors and missing attributes are reported in one line."""
    with pytest.raises(AppError, match=message):
        loadApp(name)


def test_loadDottedAttribute():
    """The attribute part may be dotted."""
    assert loadApp("recycler.demo:resource.body") == b"Request done\n"
