"""Running an extract (SPEC §6): the vault's tokens of one organisation, as a gzip CSV in the File Manager."""

import hashlib
import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import timedelta

import psycopg
import pytest
from django.core import mail
from django.db import OperationalError, connection, connections
from django.utils import timezone

from audit.models import AuditEvent
from extracts import locks, services, vault
from extracts.models import ExtractRequest, Kind, Status
from extracts.tasks import run_extract, start_due_extracts
from files.models import Section, StoredFile
from tests.extracts.conftest import BOTH_DATABASES, give_tokens, private_files, read_extract
from tests.factories import AdminFactory, UserFactory

pytestmark = pytest.mark.django_db(databases=BOTH_DATABASES)


def request_and_run(owner, capture) -> ExtractRequest:
    """An admin's request, with the task it queues after commit run as the worker would."""
    with capture(execute=True):
        extract = services.request_extract(acting_user=owner)
    extract.refresh_from_db()
    return extract


def test_extract_holds_every_token_of_the_organisation_and_no_other(
    owner, outsider, vault_table, django_capture_on_commit_callbacks
):
    ours = give_tokens(owner.organisation, 1234)
    theirs = give_tokens(outsider.organisation, 300)

    extract = request_and_run(owner, django_capture_on_commit_callbacks)

    assert extract.status == Status.DONE
    assert extract.rows_written == extract.rows_total == vault.count_tokens(owner.organisation.public_id) == 1234
    assert extract.progress == 100
    assert extract.file is not None
    _, rows = read_extract(extract.file)
    tokens = [row[0] for row in rows[1:]]
    assert tokens == ours
    assert not set(tokens) & set(theirs)


def test_extract_file_is_a_gzip_csv_with_a_header_and_its_hash_and_size(
    owner, vault_table, django_capture_on_commit_callbacks
):
    give_tokens(owner.organisation, 25)

    stored = request_and_run(owner, django_capture_on_commit_callbacks).file

    assert stored is not None
    data, rows = read_extract(stored)
    assert rows[0] == ["token", "created_at"]
    assert len(rows) == 26
    assert all(re.fullmatch(r"tok_[0-9a-f]{24}", token) for token, _ in rows[1:])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created) for _, created in rows[1:])
    assert stored.section == Section.EXTRACTS
    assert stored.organisation == owner.organisation
    assert stored.uploaded_by == owner
    assert stored.content_type == "application/gzip"
    assert re.fullmatch(r"token-extract-acme-payments-ltd-\d{8}-\d{4}\.csv\.gz", stored.name)
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()


def test_organisation_without_tokens_gets_a_file_with_only_the_header(
    owner, vault_table, django_capture_on_commit_callbacks
):
    extract = request_and_run(owner, django_capture_on_commit_callbacks)

    assert extract.status == Status.DONE
    assert extract.rows_written == 0
    assert extract.progress == 100
    assert read_extract(extract.file)[1] == [["token", "created_at"]]


def test_progress_is_committed_after_every_chunk_and_shown_while_running(
    owner_client, owner, vault_table, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.EXTRACT_CHUNK_ROWS = 100
    give_tokens(owner.organisation, 350)
    real_reader = vault.iter_token_chunks
    seen = []  # (status, rows written, rows total, progress) after each chunk
    pages = []

    def watched(org_public_id: str, **kwargs) -> Iterator[list[tuple[str, str]]]:
        with closing(real_reader(org_public_id, **kwargs)) as chunks:
            for chunk in chunks:
                yield chunk
                # What any other request sees between two chunks:
                extract = ExtractRequest.objects.get(organisation=owner.organisation)
                seen.append((extract.status, extract.rows_written, extract.rows_total, extract.progress))
                if len(seen) == 2:
                    pages.append(owner_client.get("/extracts/"))

    monkeypatch.setattr(vault, "iter_token_chunks", watched)

    extract = request_and_run(owner, django_capture_on_commit_callbacks)

    assert seen == [
        ("running", 100, 350, 28),
        ("running", 200, 350, 57),
        ("running", 300, 350, 85),
        ("running", 350, 350, 99),
    ]
    page = pages[0].content.decode()
    assert "Running" in page
    assert "200 of 350" in page
    assert 'value="57"' in page
    assert pages[0]["Refresh"] == "5"
    assert (extract.status, extract.rows_written, extract.progress) == ("done", 350, 100)


def test_failure_part_way_leaves_a_failed_extract_and_no_file(
    owner, vault_table, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.EXTRACT_CHUNK_ROWS = 100
    give_tokens(owner.organisation, 500)
    real_reader = vault.iter_token_chunks

    def breaks_after_two_chunks(org_public_id: str, **kwargs) -> Iterator[list[tuple[str, str]]]:
        with closing(real_reader(org_public_id, **kwargs)) as chunks:
            for n, chunk in enumerate(chunks):
                if n == 2:
                    raise OperationalError("server closed the connection unexpectedly")
                yield chunk

    monkeypatch.setattr(vault, "iter_token_chunks", breaks_after_two_chunks)

    extract = request_and_run(owner, django_capture_on_commit_callbacks)

    assert extract.status == Status.FAILED
    assert extract.rows_written == 200
    assert extract.finished_at is not None
    assert extract.failure_reason.startswith("Failed while reading the vault (OperationalError). Nothing was kept")
    assert extract.file is None
    assert not StoredFile.objects.exists()
    assert private_files() == []
    assert AuditEvent.objects.filter(action="extract.failed", organisation=owner.organisation).count() == 1
    assert not AuditEvent.objects.filter(action="extract.done").exists()
    assert [m.subject for m in mail.outbox] == ["Your token extract failed (Acme Payments Ltd)"]
    assert extract.failure_reason in mail.outbox[0].body


def test_vault_that_cannot_be_read_fails_the_extract_with_a_reason(owner, django_capture_on_commit_callbacks):
    # No vault table at all: the database refuses the very first query.
    extract = request_and_run(owner, django_capture_on_commit_callbacks)

    assert extract.status == Status.FAILED
    assert extract.failure_reason.startswith("Failed while counting the tokens in the vault")
    assert not StoredFile.objects.exists()
    assert private_files() == []


def test_admins_are_emailed_when_the_extract_is_ready(owner, vault_table, django_capture_on_commit_callbacks):
    second_admin = AdminFactory(organisation=owner.organisation, email="ada@acme.example")
    UserFactory(organisation=owner.organisation, email="member@acme.example")
    tokens = give_tokens(owner.organisation, 40)

    extract = request_and_run(owner, django_capture_on_commit_callbacks)

    assert sorted(m.to[0] for m in mail.outbox) == [second_admin.email, owner.email]
    assert all(m.subject == "Your token extract is ready (Acme Payments Ltd)" for m in mail.outbox)
    body = mail.outbox[0].body
    assert "40 tokens in token-extract-acme-payments-ltd-" in body
    assert "http://127.0.0.1:8000/files/?section=extracts" in body
    assert extract.file.sha256 in body
    assert not any(token in body for token in tokens)


def test_done_extract_is_audited_and_not_run_again(owner, vault_table, django_capture_on_commit_callbacks):
    give_tokens(owner.organisation, 10)
    extract = request_and_run(owner, django_capture_on_commit_callbacks)
    mail.outbox.clear()

    assert run_extract.delay(extract.pk).get() == "done"

    assert StoredFile.objects.count() == 1
    assert len(private_files()) == 1
    assert mail.outbox == []
    done = AuditEvent.objects.get(action="extract.done")
    assert done.organisation == owner.organisation
    assert done.target_label == extract.file.name
    assert done.details["rows"] == 10


def _running(owner, *, beat_minutes_ago: float = 0, attempts: int = 1, rows_written: int = 0) -> ExtractRequest:
    """An extract a worker started (its attempt number), last heard of that many minutes ago."""
    beat = timezone.now() - timedelta(minutes=beat_minutes_ago)
    return ExtractRequest.objects.create(
        organisation=owner.organisation,
        requested_by=owner,
        status=Status.RUNNING,
        attempts=attempts,
        rows_written=rows_written,
        started_at=beat,
        heartbeat_at=beat,
    )


@contextmanager
def run_lock_held_elsewhere(extract: ExtractRequest) -> Iterator[None]:
    """Another database session (a live worker) holds the extract's run lock."""
    other = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [locks.NAMESPACE, extract.pk])
        yield
    finally:
        other.close()  # as a worker's session ending: PostgreSQL releases the lock


@pytest.mark.postgres
def test_a_second_delivery_leaves_the_extract_to_the_live_worker_holding_it(owner, vault_table, monkeypatch):
    monkeypatch.setattr(locks, "WAIT_FOR_PREVIOUS_SECONDS", 0)  # one try: the holder is not going to let go
    give_tokens(owner.organisation, 10)
    extract = _running(owner, rows_written=5)

    with run_lock_held_elsewhere(extract):
        assert run_extract.delay(extract.pk).get() == "running"

    extract.refresh_from_db()
    assert (extract.status, extract.attempts, extract.rows_written) == (Status.RUNNING, 1, 5)
    assert not StoredFile.objects.exists()


@pytest.mark.postgres
def test_a_redelivered_extract_whose_worker_is_gone_is_written_again_from_the_start(owner, vault_table):
    tokens = give_tokens(owner.organisation, 1234)
    # The first worker wrote 1,000 rows, beat a moment ago and died: its session, and lock, are gone.
    extract = _running(owner, rows_written=1000)

    assert run_extract.delay(extract.pk).get() == "done"

    extract.refresh_from_db()
    assert (extract.status, extract.attempts, extract.rows_written) == (Status.DONE, 2, 1234)
    _, rows = read_extract(extract.file)
    assert [token for token, _ in rows[1:]] == tokens
    assert StoredFile.objects.count() == 1
    restarted = AuditEvent.objects.get(action="extract.restarted")
    assert restarted.details["attempt"] == 2
    # Delivered once more (the message of the lost attempt, say): the extract is done, nothing changes.
    assert run_extract.delay(extract.pk).get() == "done"
    assert StoredFile.objects.count() == 1


def test_without_advisory_locks_only_a_silent_extract_is_taken_for_lost(owner, vault_table, monkeypatch):
    monkeypatch.setattr(locks, "_supported", lambda: False)  # as on SQLite, whatever this run's database
    give_tokens(owner.organisation, 10)
    beating = _running(owner, beat_minutes_ago=2)

    assert run_extract.delay(beating.pk).get() == "running"
    beating.refresh_from_db()
    assert (beating.status, beating.attempts) == (Status.RUNNING, 1)

    ExtractRequest.objects.filter(pk=beating.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    assert run_extract.delay(beating.pk).get() == "done"
    beating.refresh_from_db()
    assert (beating.status, beating.attempts, beating.rows_written) == (Status.DONE, 2, 10)


def test_extract_whose_worker_and_message_were_lost_is_sent_to_a_worker_at_the_next_check(
    owner, vault_table, django_capture_on_commit_callbacks
):
    give_tokens(owner.organisation, 50)
    lost = _running(owner, beat_minutes_ago=11, rows_written=20)

    with django_capture_on_commit_callbacks(execute=True):
        start_due_extracts.delay().get()

    lost.refresh_from_db()
    assert (lost.status, lost.attempts, lost.rows_written) == (Status.DONE, 2, 50)
    assert [m.subject for m in mail.outbox] == ["Your token extract is ready (Acme Payments Ltd)"]


def test_extract_lost_three_times_fails_and_admins_are_told(owner, django_capture_on_commit_callbacks):
    lost = _running(owner, beat_minutes_ago=11, attempts=services.MAX_ATTEMPTS, rows_written=5000)

    with django_capture_on_commit_callbacks(execute=True):
        start_due_extracts.delay().get()

    lost.refresh_from_db()
    assert lost.status == Status.FAILED
    assert lost.failure_reason == services.LOST_TOO_OFTEN
    assert [m.subject for m in mail.outbox] == ["Your token extract failed (Acme Payments Ltd)"]
    # The organisation may request a new one at once.
    assert services.request_extract(acting_user=owner).status == Status.QUEUED


@pytest.mark.postgres
def test_a_silent_extract_whose_worker_still_holds_the_lock_is_left_running(owner):
    slow = _running(owner, beat_minutes_ago=11)

    with run_lock_held_elsewhere(slow):
        start_due_extracts.delay().get()

    slow.refresh_from_db()
    assert (slow.status, slow.attempts) == (Status.RUNNING, 1)


def test_extract_still_beating_is_not_given_up(owner):
    running = _running(owner, beat_minutes_ago=2)

    start_due_extracts.delay().get()

    running.refresh_from_db()
    assert running.status == Status.RUNNING


def test_extract_no_worker_took_for_six_hours_becomes_failed(owner):
    queued = ExtractRequest.objects.create(organisation=owner.organisation, kind=Kind.ONE_OFF)
    ExtractRequest.objects.filter(pk=queued.pk).update(requested_at=timezone.now() - timedelta(hours=7))

    start_due_extracts.delay().get()

    queued.refresh_from_db()
    assert queued.status == Status.FAILED
    assert queued.failure_reason == services.NEVER_STARTED


@pytest.mark.postgres
def test_extract_works_with_the_debug_cursor_of_debug_mode(owner, vault_table, django_capture_on_commit_callbacks):
    """DEBUG=True (make run on PostgreSQL) wraps cursors in Django's debug cursor, whose copy() takes no parameters."""
    if connections["vault"].vendor != "postgresql":
        pytest.skip("needs a PostgreSQL vault: set VAULT_DATABASE_URL=postgres://…")
    tokens = give_tokens(owner.organisation, 30)
    connections["vault"].force_debug_cursor = True
    try:
        extract = request_and_run(owner, django_capture_on_commit_callbacks)
    finally:
        connections["vault"].force_debug_cursor = False

    assert (extract.status, extract.failure_reason) == (Status.DONE, "")
    _, rows = read_extract(extract.file)
    assert [token for token, _ in rows[1:]] == tokens
