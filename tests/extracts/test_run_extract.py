"""Running an extract (SPEC §6): the vault's tokens of one organisation, as a gzip CSV in the File Manager."""

import hashlib
import re
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta

import pytest
from django.core import mail
from django.db import OperationalError
from django.utils import timezone

from audit.models import AuditEvent
from extracts import services, vault
from extracts.models import ExtractRequest, Kind, Status
from extracts.tasks import run_extract, start_due_extracts
from files.models import Section, StoredFile
from tests.extracts.conftest import BOTH_DATABASES, give_tokens, private_files, read_extract
from tests.factories import AdminFactory, UserFactory

pytestmark = pytest.mark.django_db(databases=BOTH_DATABASES)


def request_and_run(owner, capture) -> ExtractRequest:
    """An admin's request, with the task it queues after commit run as the worker would."""
    with capture(execute=True):
        extract = services.request_extract(user=owner)
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


def test_extract_delivered_twice_while_running_is_left_to_the_first_worker(owner, vault_table):
    now = timezone.now()
    extract = ExtractRequest.objects.create(
        organisation=owner.organisation, requested_by=owner, status=Status.RUNNING, started_at=now, heartbeat_at=now
    )

    assert run_extract.delay(extract.pk).get() == "running"

    extract.refresh_from_db()
    assert extract.status == Status.RUNNING
    assert not StoredFile.objects.exists()


def test_extract_whose_worker_died_becomes_failed_at_the_next_check(owner, django_capture_on_commit_callbacks):
    long_ago = timezone.now() - timedelta(minutes=11)
    lost = ExtractRequest.objects.create(
        organisation=owner.organisation,
        requested_by=owner,
        status=Status.RUNNING,
        rows_written=5000,
        started_at=long_ago,
        heartbeat_at=long_ago,
    )

    with django_capture_on_commit_callbacks(execute=True):
        start_due_extracts.delay().get()

    lost.refresh_from_db()
    assert lost.status == Status.FAILED
    assert lost.failure_reason == services.LOST_WORKER
    assert [m.subject for m in mail.outbox] == ["Your token extract failed (Acme Payments Ltd)"]
    # The organisation may request a new one at once.
    assert services.request_extract(user=owner).status == Status.QUEUED


def test_extract_still_beating_is_not_given_up(owner):
    recent = timezone.now() - timedelta(minutes=2)
    running = ExtractRequest.objects.create(
        organisation=owner.organisation, status=Status.RUNNING, started_at=recent, heartbeat_at=recent
    )

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
