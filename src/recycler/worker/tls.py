# -*- test-case-name: tests.worker.test_tls -*-
"""TLS around the app's factory, terminated in the workers.

The workers terminate TLS on the plain TCP socket the master binds. The master
calls L{withTLS} too, once, to refuse a bad C{--tls-cert} before it starts any
worker; so this module imports nothing heavier than twisted.internet.
"""

from __future__ import annotations

from twisted.internet.interfaces import IProtocolFactory

from recycler.worker.errors import AppError


def withTLS(factory: IProtocolFactory, cert: str | None, key: str | None) -> IProtocolFactory:
    """
    Wrap C{factory} in TLS with the PEM certificate and key, if a certificate is given.

    @param key: The PEM file with the private key, or L{None} if it is in C{cert}.
    @raise AppError: if pyOpenSSL is missing or the certificate cannot be loaded.
    """
    if cert is None:
        return factory
    try:
        from twisted.internet.ssl import PrivateCertificate
        from twisted.protocols.tls import TLSMemoryBIOFactory
    except ImportError as e:
        raise AppError(f"TLS needs pyOpenSSL: pip install 'recycler[tls]' ({e})") from e
    try:
        with open(cert, "rb") as f:
            pem = f.read()
        if key is not None:
            with open(key, "rb") as f:
                pem += b"\n" + f.read()
        options = PrivateCertificate.loadPEM(pem).options()
    except Exception as e:
        raise AppError(f"cannot load the TLS certificate: {type(e).__name__}: {e}") from e
    return TLSMemoryBIOFactory(options, False, factory)
