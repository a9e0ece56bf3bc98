"""Loading the user's app in a worker, and turning it into a drainable server factory."""

from __future__ import annotations

import importlib

from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import IResource

from recycler.drain import DrainableSite


class AppError(Exception):
    """The app named on the command line cannot be loaded or served; the message says why."""


def splitAppName(name: str) -> tuple[str, str]:
    """
    Split C{"package.module:attribute"} into its module and attribute path.

    @raise AppError: if either part is missing.
    """
    module, sep, attribute = name.partition(":")
    if not sep or not module or not attribute:
        raise AppError(f"expected 'package.module:name', got {name!r}")
    return module, attribute


def loadApp(name: str) -> object:
    """
    Import C{"package.module:attribute"} and return the attribute.

    @raise AppError: with the reason (import error, missing attribute).
    """
    moduleName, attributePath = splitAppName(name)
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


def siteFor(app: object, reactor: IReactorTime) -> DrainableSite:
    """
    Wrap a loaded app in a L{DrainableSite}.

    @raise AppError: if the app is not a twisted.web resource.
    """
    resource = IResource(app, None)
    if resource is None:
        raise AppError(f"{app!r} is not a twisted.web IResource")
    return DrainableSite(resource, reactor=reactor)
