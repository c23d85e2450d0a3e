"""Database connections as a shared pool (docs/adr/0029): each process holds at most
DATABASE_POOL_SIZE connections, shared by its threads. A thread about to wait on something
other than the database (ECS, the payment provider, a turn at the provider's rate limit)
lends its connection back first, so that a few slow calls cannot hold every connection
while other requests queue for one."""

from __future__ import annotations

from django.db import connections


def pooled() -> bool:
    return bool(connections["default"].settings_dict.get("OPTIONS", {}).get("pool"))


def lend_connection_back() -> None:
    """Give this thread's connection back to the pool; its next query takes one again. Not
    inside a transaction (its work needs that connection), and not without a pool (closing
    would only cost a reconnect)."""
    connection = connections["default"]
    if connection.connection is None or connection.in_atomic_block or not pooled():
        return
    connection.close()
