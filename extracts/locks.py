"""One live worker per extract: a PostgreSQL session advisory lock, held while the extract runs.

The lock belongs to the worker's database session, so PostgreSQL releases it when that session
ends, however it ends: a worker process killed mid-extract (SIGKILL, out of memory, a lost
machine) frees it as its connection closes. A second delivery of the same task can therefore
tell "another worker is writing this extract" (lock held) from "the worker writing it is gone"
(lock free, status still running) and take the extract over.

Other databases (the embedded SQLite default, where tasks run in-process one at a time) have no
such locks: ``run_lock`` yields None there and only queued extracts are started.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# pg_advisory_lock(namespace, id): the namespace keeps these apart from any other advisory lock.
NAMESPACE = 0x45585452  # "EXTR"
# A killed worker's session may outlive it briefly (PostgreSQL notices the closed socket at its
# next read); a redelivered task waits this long for it before deciding a live worker has it.
WAIT_FOR_PREVIOUS_SECONDS = 30.0
POLL_SECONDS = 0.2


def _supported() -> bool:
    return connection.vendor == "postgresql"


def _try_lock(extract_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [NAMESPACE, extract_id])
        return bool(cursor.fetchone()[0])


def _unlock(extract_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [NAMESPACE, extract_id])


@contextmanager
def run_lock(extract_id: int) -> Iterator[bool | None]:
    """Hold the extract's lock for the block: True when held, False when a live session keeps it.

    None when the database has no advisory locks.
    """
    if not _supported():
        yield None
        return
    deadline = time.monotonic() + WAIT_FOR_PREVIOUS_SECONDS
    held = _try_lock(extract_id)
    while not held and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        held = _try_lock(extract_id)
    try:
        yield held
    finally:
        if held:
            _unlock(extract_id)


def running_elsewhere(extract_id: int) -> bool:
    """Whether a live database session (a worker) holds the extract's lock right now."""
    if not _supported():
        return False
    if not _try_lock(extract_id):
        return True
    _unlock(extract_id)
    return False
