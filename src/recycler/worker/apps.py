# -*- test-case-name: tests.worker.test_apps -*-
"""Loading the user's app in a worker, and turning it into a drainable server factory.

C{--app} names one of these, tried in this order:

 1. a twisted.web C{IResource}: served by a L{DrainableSite};
 2. an C{IProtocolFactory} (any TCP protocol): served by a L{DrainableFactory};
 3. a factory, called once with no argument; what it returns must be of kind
    1, 2 or 4. A factory is a class whose instances provide C{IResource} or
    C{IProtocolFactory}, or any callable that can be called with no argument
    and takes no C{*args};
 4. a WSGI app (Flask, Django, ...): any other callable that can be called as
    C{app(environ, start_response)}: a function, a callable object, a wrapper
    taking C{*args} (C{wsgiref.validate.validator}), or a class (PEP 3333: each
    request makes an instance, the response iterable). Served by a
    L{WSGIContainer}: in the reactor thread with C{--threads 0} (the
    default), or on a thread pool of C{--threads} threads.

Callables are judged by what Python's own call binding accepts
(C{inspect.signature(app).bind}); one whose signature cannot be inspected is
refused.
"""

from __future__ import annotations

import importlib
import inspect
import traceback

import attrs
from twisted.internet.interfaces import IProtocolFactory, IReactorTime
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import IResource

from recycler import wire
from recycler.worker.access import AccessLogFile
from recycler.worker.drain import IDrainable
from recycler.worker.drain.http import DrainableSite
from recycler.worker.drain.tcp import DrainableFactory
from recycler.worker.errors import AppError
from recycler.worker.wsgi.container import WSGIContainer

SERVABLE = "a twisted.web resource, a WSGI app, or a protocol factory"
"""What an app, or what a factory returns, must be."""

KINDS = (
    "a twisted.web resource, a WSGI app, a protocol factory, "
    "or a callable taking no argument that returns one of them"
)
"""What C{--app} must name."""


@attrs.frozen
class AppServer:
    """
    An app ready to serve.

    @ivar factory: The drainable factory the worker's ports use.
    @ivar description: What kind of app it is, for the log.
    @ivar threadPool: The WSGI thread pool to start and stop with the worker, if any.
    """

    factory: IDrainable
    description: str
    threadPool: ThreadPool | None = None


def loadApp(name: str) -> object:
    """
    Import C{"package.module:attribute"} (or C{"package.module.attribute"}) and
    return the attribute.

    @raise AppError: with the reason (malformed name, import error, missing attribute).
    """
    try:
        moduleName, attributePath = wire.splitAppName(name)
    except ValueError as e:
        raise AppError(str(e)) from None
    try:
        app: object = importlib.import_module(moduleName)
    except Exception as e:
        why = f"cannot import {moduleName!r}: {type(e).__name__}: {e}"
        raise AppError(why, traceback.format_exc()) from e
    for attribute in attributePath.split("."):
        try:
            app = getattr(app, attribute)
        except AttributeError:
            raise AppError(f"{moduleName!r} has no attribute {attributePath!r}") from None
    return app


def serverFor(
    app: object, reactor: IReactorTime, threads: int = 10, accessLog: AccessLogFile | None = None
) -> AppServer:
    """
    Find out what kind of app C{app} is and build the factory that serves it;
    a factory is called first. (C{reactor} also runs WSGI results back from
    threads: C{IReactorFromThreads}.) HTTP apps (resources, WSGI) write a line
    per request to C{accessLog}, if given.

    @raise AppError: if it is of no known kind, or a factory callable fails.
    """
    server = _serverForServable(app, reactor, threads, accessLog)
    if server is not None:
        return server
    if not _isFactory(app):
        raise AppError(f"{app!r} is not {KINDS}")
    try:
        made = app()  # type: ignore[operator]
    except Exception as e:
        raise AppError(f"{app!r} raised {type(e).__name__}: {e}", traceback.format_exc()) from e
    server = _serverForServable(made, reactor, threads, accessLog)
    if server is None:
        raise AppError(f"{app!r} returned {made!r}, which is not {SERVABLE}")
    return attrs.evolve(server, description=f"{server.description} from {app!r}")


def _serverForServable(
    app: object, reactor: IReactorTime, threads: int, accessLog: AccessLogFile | None
) -> AppServer | None:
    """The server for a resource, a protocol factory or a WSGI app; L{None} for anything else."""
    resource = IResource(app, None)
    if resource is not None:
        site = DrainableSite(resource, reactor=reactor, accessLog=accessLog)
        return AppServer(site, "twisted.web resource")
    if IProtocolFactory.providedBy(app):
        return AppServer(DrainableFactory(app, reactor), "protocol factory")
    signature = _signature(app)
    if signature is None or _isFactory(app) or not _binds(signature, 2):
        return None
    pool = ThreadPool(minthreads=1, maxthreads=threads, name="wsgi") if threads else None
    wsgi = WSGIContainer(reactor, pool, app)  # type: ignore[arg-type]
    site = DrainableSite(wsgi, reactor=reactor, accessLog=accessLog)
    where = f"on {threads} threads" if threads else "in the reactor thread"
    return AppServer(site, f"WSGI app {where}", pool)


def _isFactory(app: object) -> bool:
    """
    Whether C{app} is to be called with no argument: a class of resources or of
    protocol factories, or a callable that can be called with no argument and
    takes no C{*args} (a wrapper taking C{*args} is a WSGI app).
    """
    if inspect.isclass(app) and (
        IResource.implementedBy(app) or IProtocolFactory.implementedBy(app)
    ):
        return True
    signature = _signature(app)
    return (
        signature is not None
        and _binds(signature, 0)
        and all(p.kind is not p.VAR_POSITIONAL for p in signature.parameters.values())
    )


def _signature(app: object) -> inspect.Signature | None:
    """How C{app} is called, or L{None} if it is not callable or cannot be inspected."""
    if not callable(app):
        return None
    try:
        return inspect.signature(app)
    except (TypeError, ValueError):
        return None


def _binds(signature: inspect.Signature, count: int) -> bool:
    """Whether a call with C{count} positional arguments (and no keyword) fits C{signature}."""
    try:
        signature.bind(*range(count))
    except TypeError:
        return False
    return True
