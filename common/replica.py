"""Which database a read goes to: the primary, or the optional read replica (``DATABASE_REPLICA_URL``).

Only reads that tolerate lag name the replica, each where it is written: the selectors of the
dashboard's counters and vault figures, the error log's pages and CSV export, and the audit
trail's pages and CSV export call ``lag_tolerant()`` and pass it to ``.using()``. Everything else,
every login and security decision (sessions, users, second factors, lockouts, rate limits, keys,
permissions) and every write, uses the default alias, the primary.

Named at the call site rather than chosen by a database router: a router sees only the model,
and the same models are read both ways (the error log by the page, which may lag, and by the
ingestion and retention services, which must not; the organisation by the login and by the
dashboard's vault figures). The router in settings (``extracts.routers.VaultRouter``) answers
"default" for every model, so an object read from the replica is saved to, and loads its related
objects from, the primary.
"""

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"


def lag_tolerant() -> str:
    """The alias for a read that may be a moment behind the primary.

    The replica when one is configured, except while the primary's connection is inside a
    transaction: whatever that transaction wrote is not on the replica yet, and a page that wrote
    something reads it back (the test suite's transactions too, where the replica is a mirror of
    the test database on a connection of its own).
    """
    if REPLICA not in connections.settings or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return REPLICA
