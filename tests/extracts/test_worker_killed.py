"""A worker process killed in the middle of an extract loses no work (SPEC §8, issue 9).

A real `celery worker` (prefork pool, one child) runs in a subprocess on Redis and the test
databases. The test holds the extract's row lock once the child has written some rows, so the
child is stuck mid-extract, kills the child with SIGKILL, and lets go. Celery's parent process
sees the child die (WorkerLostError), puts the message back on the queue (acks_late,
reject_on_worker_lost), and its fresh child takes the extract over and finishes it: one file
with every token once, one "done" audit event, one e-mail to the admins.
"""

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections

from audit.models import AuditEvent
from extracts import services
from extracts.models import ExtractRequest, Status
from files.models import StoredFile
from portal.celery import app
from tests.celery_worker import wait_until_settled, worker_process_command
from tests.extracts.conftest import BOTH_DATABASES, give_tokens, private_files, read_extract

# The killed worker is another process: it must reach the test's vault, which an SQLite vault
# (the embedded default when VAULT_DATABASE_URL is unset) is not; a PostgreSQL one is.
VAULT_ON_POSTGRES = os.environ.get("VAULT_DATABASE_URL", "").startswith(("postgres://", "postgresql://"))

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(
        not VAULT_ON_POSTGRES,
        reason="needs a PostgreSQL vault the worker process can reach: set VAULT_DATABASE_URL=postgres://…",
    ),
    pytest.mark.django_db(transaction=True, databases=BOTH_DATABASES),
    pytest.mark.timeout(180),
]

BASE_DIR = Path(__file__).resolve().parents[2]
TOKENS = 20_000
CHUNK_ROWS = 20  # a progress UPDATE every 20 rows: a thousand points where the worker can be stopped


def database_url(alias: str) -> str:
    params = connections[alias].get_connection_params()
    user, host, port = params.get("user", "postgres"), params.get("host", "127.0.0.1"), params.get("port", 5432)
    return f"postgres://{user}@{host}:{port}/{params['dbname']}"


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def sessions_waiting_for(blocker: psycopg.Connection) -> int:
    """How many database sessions wait for a lock ``blocker`` holds (read afresh: within a transaction
    PostgreSQL would otherwise answer from the snapshot of its first read)."""
    blocker.execute("SELECT pg_stat_clear_snapshot()")
    row = blocker.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [blocker.info.backend_pid]
    ).fetchone()
    return int(row[0]) if row else 0


class Worker:
    """`celery -A portal worker` in a subprocess, its output collected as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.name = f"kill-test-{uuid.uuid4().hex[:8]}@%h"
        self.output: list[str] = []
        self.process = subprocess.Popen(
            worker_process_command(self.name),
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def log(self) -> str:
        return "".join(self.output)

    def pool_children(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    app.conf.CELERY_TASK_ALWAYS_EAGER = False  # tests/conftest.py sets it back
    app.control.purge()  # messages left by an interrupted run would be delivered into this test
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": database_url("default"),
        "VAULT_DATABASE_URL": database_url("vault"),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "EXTRACT_CHUNK_ROWS": str(CHUNK_ROWS),
        # The same private storage folder as this test's (tests/conftest.py), and mail as files.
        "PRIVATE_FILES_ROOT": settings.STORAGES["private"]["OPTIONS"]["location"],
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
    }
    running = Worker(env)
    try:
        wait_for(lambda: "ready." in running.log(), timeout=60, what=f"the worker to start:\n{running.log()}")
        yield running
    finally:
        running.stop()


def sent_mail(folder: Path) -> list[str]:
    return [path.read_text() for path in sorted(folder.glob("*.log"))] if folder.exists() else []


def test_an_extract_whose_worker_process_is_killed_is_finished_once_by_a_fresh_one(
    vault_table, owner, worker, published, tmp_path
):
    tokens = give_tokens(owner.organisation, TOKENS)
    extract = services.request_extract(acting_user=owner)  # autocommit here: the task is sent at once
    [task_id] = [task_id for name, task_id in published if name == "extracts.tasks.run_extract"]
    wait_for(
        lambda: ExtractRequest.objects.filter(pk=extract.pk, rows_written__gt=0).exists(),
        timeout=60,
        what=f"the extract to start:\n{worker.log()}",
    )
    [first_child] = worker.pool_children()

    # Stop the child between two chunks: its next progress UPDATE waits for this row lock.
    blocker = psycopg.connect(**connection.get_connection_params())
    try:
        written, total = blocker.execute(
            "SELECT rows_written, rows_total FROM extracts_extractrequest WHERE id = %s FOR UPDATE", [extract.pk]
        ).fetchone()
        assert 0 < written < total == TOKENS, "the extract must be stopped part-way"
        wait_for(lambda: sessions_waiting_for(blocker), timeout=30, what="the child's UPDATE to wait for the lock")
        os.kill(first_child, signal.SIGKILL)
        wait_for(lambda: "WorkerLostError" in worker.log(), timeout=30, what="the parent to notice the lost child")
    finally:
        blocker.rollback()
        blocker.close()

    assert app.AsyncResult(task_id).get(timeout=90) == "done"
    [second_child] = worker.pool_children()
    assert second_child != first_child
    extract.refresh_from_db()
    assert (extract.status, extract.attempts, extract.rows_written, extract.progress) == (
        Status.DONE,
        2,
        TOKENS,
        100,
    )
    # Exactly once: one file, every token in it once and in order, one "done", one e-mail.
    _, rows = read_extract(extract.file)
    assert [token for token, _ in rows[1:]] == tokens
    assert StoredFile.objects.count() == 1
    assert len(private_files()) == 1
    assert AuditEvent.objects.filter(action="extract.done").count() == 1
    assert AuditEvent.objects.get(action="extract.restarted").details["attempt"] == 2
    ready = wait_for(lambda: sent_mail(tmp_path / "mail"), timeout=30, what="the ready e-mail")
    wait_until_settled(timeout=30)  # a second e-mail, if one were queued, is written by now
    assert len(sent_mail(tmp_path / "mail")) == len(ready) == 1
    assert "Subject: Your token extract is ready" in ready[0]
