"""The operator's admin port, one module per reason to change.

- L{recycler.admin.protocol}: sessions, timeouts, the client limit, error policy;
- L{recycler.admin.connection}: reading lines, half-close, flow control;
- L{recycler.admin.lines}: a client's input as lines and Ctrl-C;
- L{recycler.admin.telnet}: the telnet commands a client sends, and their answers;
- L{recycler.admin.commands}: the commands, each declared once;
- L{recycler.admin.watch}: C{watch}'s relay of worker events;
- L{recycler.admin.interfaces}: what the admin port reads and drives of the pool;
- L{recycler.admin.render}: text tables, event lines, JSON lines;
- L{recycler.admin.metrics}: the Prometheus exposition;
- L{recycler.admin.token}: the optional token, and which endpoints need one;
- L{recycler.admin.guard}: the growing delay before answering a wrong token.
"""
