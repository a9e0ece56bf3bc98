# -*- test-case-name: tests.worker.test_apps -*-
"""Loading the user's app in a worker, and turning it into a drainable server factory.

C{--app package.module:name} names one of:

 - a twisted.web C{IResource}: served by a L{DrainableSite};
 - a WSGI callable C{app(environ, start_response)} (Flask, Django, ...): served
   by C{twisted.web.wsgi.WSGIResource} on a thread pool of C{--threads} threads;
 - an C{IProtocolFactory} (any TCP protocol): served by a L{DrainableFactory};
 - a callable taking no argument (a function, a class) returning one of these.
"""

from __future__ import annotations

import importlib
import inspect

import attrs
from twisted.internet.interfaces import IProtocolFactory, IReactorTime
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import IResource
from twisted.web.wsgi import WSGIResource

from recycler import wire
from recycler.worker.drain import IDrainable
from recycler.worker.drain.http import DrainableSite
from recycler.worker.drain.tcp import DrainableFactory
from recycler.worker.errors import AppError

KINDS = (
    "a twisted.web resource, a WSGI app, a protocol factory, "
    "or a callable taking no argument that returns one of them"
)


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
    Import C{"package.module:attribute"} and return the attribute.

    @raise AppError: with the reason (malformed name, import error, missing attribute).
    """
    try:
        moduleName, attributePath = wire.splitAppName(name)
    except ValueError as e:
        raise AppError(str(e)) from None
    try:
        app: object = importlib.import_module(moduleName)
    except Exception as e:
        raise AppError(f"cannot import {moduleName!r}: {type(e).__name__}: {e}") from e
    for attribute in attributePath.split("."):
        try:
            app = getattr(app, attribute)
        except AttributeError:
            raise AppError(f"{moduleName!r} has no attribute {attributePath!r}") from None
    return app


def serverFor(app: object, reactor: IReactorTime, threads: int = 10) -> AppServer:
    """
    Find out what kind of app C{app} is and build the factory that serves it.
    (C{reactor} also runs WSGI results back from threads: C{IReactorFromThreads}.)

    @raise AppError: if it is of no known kind, or a factory callable fails.
    """
    resource = IResource(app, None)
    if resource is not None:
        return AppServer(DrainableSite(resource, reactor=reactor), "twisted.web resource")
    if IProtocolFactory.providedBy(app):
        return AppServer(DrainableFactory(app, reactor), "protocol factory")
    arity = _requiredArguments(app)
    if arity == 2 and not inspect.isclass(app):
        pool = ThreadPool(minthreads=1, maxthreads=threads, name="wsgi")
        wsgi = WSGIResource(reactor, pool, app)
        site = DrainableSite(wsgi, reactor=reactor)
        return AppServer(site, f"WSGI app on {threads} threads", pool)
    if arity == 0:
        try:
            made = app()
        except Exception as e:
            raise AppError(f"{app!r} raised {type(e).__name__}: {e}") from e
        if _requiredArguments(made) != 0:
            server = serverFor(made, reactor, threads)
            return attrs.evolve(server, description=f"{server.description} from {app!r}")
    raise AppError(f"{app!r} is not {KINDS}")


def _requiredArguments(app: object) -> int | None:
    """How many positional arguments C{app} requires, or L{None} if it is not callable."""
    if not callable(app):
        return None
    try:
        parameters = inspect.signature(app).parameters.values()
    except (TypeError, ValueError):
        return None
    return sum(
        1
        for p in parameters
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )
