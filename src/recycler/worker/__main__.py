# -*- test-case-name: tests.worker.test_main -*-
"""C{python -m recycler.worker}: the program the master runs for each worker."""

import signal

# Ctrl-C and Ctrl-\ reach the whole process group: only the master reacts. Ignored
# before the imports (about 0.2 s), which a SIGINT would otherwise interrupt.
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGQUIT, signal.SIG_IGN)
signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # logrotate's, if sent to the whole group

from recycler.worker.main import main  # noqa: E402

main()
