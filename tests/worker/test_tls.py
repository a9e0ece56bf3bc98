"""Tests of L{recycler.worker.tls}: TLS around the app's factory, and its errors."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from unittest import mock

from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import SynchronousTestCase

from recycler.worker.errors import AppError
from recycler.worker.tls import withTLS
from tests.certificates import selfSigned

try:
    from twisted.protocols.tls import TLSMemoryBIOFactory
except ImportError as e:
    skipWithoutTLS: str | None = f"needs pip install 'recycler[tls]': {e}"
else:
    skipWithoutTLS = None


class WithTLSTests(SynchronousTestCase):
    """L{withTLS} wraps the factory, or says clearly why it cannot."""

    skip = skipWithoutTLS

    def setUp(self) -> None:
        self.factory = Factory.forProtocol(Protocol)

    def write(self, content: bytes) -> str:
        """A file with C{content}, removed after the test."""
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        path = os.path.join(directory.name, "file.pem")
        with open(path, "wb") as f:
            f.write(content)
        return path

    def test_noCertificate(self) -> None:
        """Without a certificate the factory is served as it is."""
        self.assertIs(withTLS(self.factory, None, None), self.factory)

    def test_certificateAndKeyInOneFile(self) -> None:
        """A PEM with both the certificate and its key wraps the factory in TLS."""
        cert, key = selfSigned()
        wrapped = withTLS(self.factory, self.write(cert + key), None)
        self.assertIsInstance(wrapped, TLSMemoryBIOFactory)
        self.assertIs(wrapped.wrappedFactory, self.factory)

    def test_keyInItsOwnFile(self) -> None:
        """The key may come from its own file."""
        cert, key = selfSigned()
        wrapped = withTLS(self.factory, self.write(cert), self.write(key))
        self.assertIsInstance(wrapped, TLSMemoryBIOFactory)

    def test_unloadable(self) -> None:
        """A missing file, a certificate without its key, or garbage: one clear error each."""
        cert, _ = selfSigned()
        for certPath, message in [
            ("/no/such/cert.pem", "cannot load the TLS certificate: FileNotFoundError"),
            (self.write(cert), "cannot load the TLS certificate: "),
            (self.write(b"garbage"), "cannot load the TLS certificate: "),
        ]:
            error = self.assertRaises(AppError, withTLS, self.factory, certPath, None)
            self.assertIn(message, str(error))

    def test_withoutPyOpenSSL(self) -> None:
        """Without pyOpenSSL, the error says what to install."""
        with mock.patch.dict(sys.modules, {"twisted.internet.ssl": None}):
            error = self.assertRaises(AppError, withTLS, self.factory, "cert.pem", None)
        self.assertIn("TLS needs pyOpenSSL: pip install 'recycler[tls]'", str(error))


class ImportTests(SynchronousTestCase):
    """The master imports this module to check C{--tls-cert}: it stays light."""

    def test_noWebNorApps(self) -> None:
        """Importing it loads neither twisted.web nor the app loader."""
        code = (
            "import sys, recycler.worker.tls; "
            "print(sorted(m for m in sys.modules if m.startswith(('twisted.web', 'recycler'))))"
        )
        output = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        self.assertEqual(
            output.strip(),
            "['recycler', 'recycler.worker', 'recycler.worker.errors', 'recycler.worker.tls']",
        )
