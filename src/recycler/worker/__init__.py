"""The worker process: adopts the shared sockets, serves the app, drains when asked.

The master runs C{python -m recycler.worker}; from this project the worker
imports only L{recycler.wire} and this package:

 - L{recycler.worker.main}: the command line, start-up and exit status;
 - L{recycler.worker.link}: the pipes to the master (commands in, events out);
 - L{recycler.worker.lifecycle}: ready, status heartbeat, stop, drain;
 - L{recycler.worker.sockets}: adopting the shared listening sockets;
 - L{recycler.worker.apps}: loading C{--app} into a drainable factory;
 - L{recycler.worker.tls}: TLS around that factory (the master uses it too);
 - L{recycler.worker.errors}: L{AppError<recycler.worker.errors.AppError>};
 - L{recycler.worker.logs}: plain log lines on stdout;
 - L{recycler.worker.drain}: the graceful drain of HTTP and plain TCP servers.
"""
