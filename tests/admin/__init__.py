"""Unit tests of the admin port (L{recycler.admin}): in-memory transports, a clock, a fake pool."""
