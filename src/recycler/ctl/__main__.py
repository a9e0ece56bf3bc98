"""C{python -m recycler.ctl}: the same as the C{recyclerctl} console script."""

from recycler.ctl import main

raise SystemExit(main())
