# -*- test-case-name: tests.worker.test_main -*-
"""C{python -m recycler.worker}: the program the master runs for each worker."""

from recycler.worker.main import main

main()
