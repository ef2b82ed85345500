"""Fire calls at the same moment from threads, each with its own database connection.

Concurrency tests use it to show a rule holds under real row locks on PostgreSQL (SQLite
serialises all writers and would prove nothing).
"""

import threading
from collections.abc import Callable
from typing import Any


def race(calls: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    """Run the calls in threads that start together; return what the calls that succeeded
    returned, and what the others raised (each list in finishing order)."""
    from django.db import connection

    barrier = threading.Barrier(len(calls), timeout=30)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], Any]) -> None:
        try:
            connection.ensure_connection()  # connect before the start line, so the calls truly race
            barrier.wait()
            try:
                result = call()
            except BaseException as exc:
                with lock:
                    errors.append(exc)
            else:
                with lock:
                    results.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results, errors
