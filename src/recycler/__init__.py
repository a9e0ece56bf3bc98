"""recycler: a Twisted pre-fork process pool whose workers recycle without dropping a request."""

__version__ = "0.1.0"
