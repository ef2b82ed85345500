"""A real Celery worker on Redis, in a thread of the test process (celery.contrib.testing)."""

import sys
import time
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


def broker_settled() -> bool:
    """No task message waits on the broker and none is running: tasks are acknowledged late
    (CELERY_TASK_ACKS_LATE), so a delivered message stays in the Redis transport's ``unacked`` hash
    until its task has ended, and a task queues what it sends (on commit) before it ends."""
    with app.connection_for_read() as connection:
        client = connection.default_channel.client  # type: ignore[attr-defined]  # the Redis transport's
        return bool(client.hlen("unacked") == 0 and client.llen(app.conf.task_default_queue) == 0)


def wait_until_settled(*, timeout: float) -> None:
    """Poll until the workers have nothing left to do -- seen twice in a row, so a message moving
    from the queue to a worker between two reads is not missed -- or fail at the deadline."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise AssertionError(f"the Celery workers still had tasks after {timeout} s")
        quiet = quiet + 1 if broker_settled() else 0
        time.sleep(0.05)


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
