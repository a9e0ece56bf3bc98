"""The operator's admin port, one module per reason to change.

- L{recycler.admin.protocol}: connections, sessions, flow control, error policy;
- L{recycler.admin.commands}: the commands, each declared once;
- L{recycler.admin.interfaces}: what the admin port reads and drives of the pool;
- L{recycler.admin.render}: text tables, event lines, JSON lines;
- L{recycler.admin.metrics}: the Prometheus exposition;
- L{recycler.admin.token}: the optional token clients authenticate with.
"""
