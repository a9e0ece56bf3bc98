"""C{python -m recycler.worker}: the program the master runs for each worker.

(test-case-name: tests.worker.test_main)
"""

from recycler.worker.main import main

main()
