"""Unit tests of recyclerctl (L{recycler.ctl}): socket pairs stand in for the admin port."""
