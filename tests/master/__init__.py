"""Unit tests of the master: the worker lifecycle, triggers, handles and the pool."""
