"""Tests of the worker process, L{recycler.worker}: one module per module."""
