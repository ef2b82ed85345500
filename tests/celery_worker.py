"""A real Celery worker on Redis, in a thread of the test process (celery.contrib.testing)."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django import db

from portal.celery import app


def close_worker_db_connections(**kwargs: Any) -> None:
    # The worker thread keeps its own (persistent) connections, portal and vault; left open, they
    # would stop the test databases from being flushed and dropped.
    db.connections.close_all()


@contextmanager
def thread_worker() -> Iterator[Any]:
    """Tasks go through the broker to the worker, not eagerly; the test needs a transactional database."""
    # The name Celery reads first; the autouse fixture in tests/conftest.py sets it back to True.
    app.conf.CELERY_TASK_ALWAYS_EAGER = False
    assert app.conf.task_always_eager is False
    # Messages left on the queue by an interrupted run would be delivered into this test.
    app.control.purge()
    task_postrun.connect(close_worker_db_connections, weak=False)
    try:
        with start_worker(app, pool="solo", loglevel="WARNING", perform_ping_check=False) as worker:
            yield worker
    finally:
        task_postrun.disconnect(close_worker_db_connections)


def worker_process_command(hostname: str) -> list[str]:
    """The command line of a real `celery worker` process (one prefork child, no gossip), for tests
    that run workers as separate processes."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname={hostname}",
    ]
