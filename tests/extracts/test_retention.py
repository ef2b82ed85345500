"""Extract files older than EXTRACT_RETENTION_DAYS are deleted; the extract stays, "expired"."""

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from audit.models import AuditEvent
from extracts import runner, services
from extracts.models import ExtractRequest, Status
from extracts.tasks import expire_old_extract_files
from files.models import Section, StoredFile
from files.services import store_file
from tests.conftest import page_text
from tests.extracts.conftest import private_files

DAY = timedelta(days=1)


def _done_extract(organisation, *, age: timedelta, label: str) -> ExtractRequest:
    """A finished extract whose file was written ``age`` ago."""
    written = timezone.now() - age
    stored = store_file(
        organisation=organisation,
        section=Section.EXTRACTS,
        name=f"token-extract-{label}.csv.gz",
        content=io.BytesIO(b"\x1f\x8b not really gzip"),
        size=19,
        sha256="a" * 64,
        content_type=runner.CONTENT_TYPE,
        uploaded_by=None,
    )
    StoredFile.objects.filter(pk=stored.pk).update(uploaded_at=written)
    return ExtractRequest.objects.create(
        organisation=organisation, status=Status.DONE, file=stored, rows_written=3, progress=100, finished_at=written
    )


def _compliance_file(organisation, *, age: timedelta) -> StoredFile:
    stored = store_file(
        organisation=organisation,
        section=Section.COMPLIANCE,
        name="register.pdf",
        content=io.BytesIO(b"%PDF-1.4"),
        size=8,
        sha256="b" * 64,
        content_type="application/pdf",
        uploaded_by=None,
    )
    StoredFile.objects.filter(pk=stored.pk).update(uploaded_at=timezone.now() - age)
    return stored


def _status(extract: ExtractRequest) -> str:
    extract.refresh_from_db()
    return extract.status


def test_task_deletes_only_files_past_the_retention_period(owner, outsider):
    assert settings.EXTRACT_RETENTION_DAYS == 30
    old = _done_extract(owner.organisation, age=30 * DAY + timedelta(minutes=1), label="old")
    recent = _done_extract(owner.organisation, age=29 * DAY, label="recent")
    other_old = _done_extract(outsider.organisation, age=90 * DAY, label="other-old")
    other_recent = _done_extract(outsider.organisation, age=DAY, label="other-recent")
    compliance = _compliance_file(owner.organisation, age=400 * DAY)
    assert len(private_files()) == 5

    assert expire_old_extract_files.delay().get() == 2

    assert [_status(e) for e in (old, recent, other_old, other_recent)] == [
        Status.EXPIRED,
        Status.DONE,
        Status.EXPIRED,
        Status.DONE,
    ]
    # The content is gone from the private storage; every other file is still there.
    kept = {path.name for path in private_files()}
    assert kept == {
        StoredFile.objects.get(pk=pk).file.name.rsplit("/", 1)[-1]
        for pk in (recent.file_id, other_recent.file_id, compliance.pk)
    }
    # The File Manager entries stay, marked; nothing else changed.
    old.file.refresh_from_db()
    assert old.file.expired_at is not None
    assert not old.file.file
    assert StoredFile.objects.filter(expired_at__isnull=True).count() == 3
    assert ExtractRequest.objects.count() == 4
    events = AuditEvent.objects.filter(action="extract.expired")
    assert sorted((e.organisation_id, e.target_label) for e in events) == sorted(
        [
            (outsider.organisation_id, "token-extract-other-old.csv.gz"),
            (owner.organisation_id, "token-extract-old.csv.gz"),
        ]
    )


def test_running_it_again_expires_nothing_more(owner):
    _done_extract(owner.organisation, age=31 * DAY, label="old")

    assert expire_old_extract_files.delay().get() == 1
    assert expire_old_extract_files.delay().get() == 0
    assert AuditEvent.objects.filter(action="extract.expired").count() == 1


def test_retention_follows_the_setting(owner, settings):
    settings.EXTRACT_RETENTION_DAYS = 7
    old = _done_extract(owner.organisation, age=8 * DAY, label="old")
    kept = _done_extract(owner.organisation, age=6 * DAY, label="kept")

    assert expire_old_extract_files.delay().get() == 1
    assert (_status(old), _status(kept)) == (Status.EXPIRED, Status.DONE)


def test_large_backlogs_expire_in_batches(owner, monkeypatch):
    monkeypatch.setattr(services, "RETENTION_BATCH", 2)
    for n in range(5):
        _done_extract(owner.organisation, age=(40 + n) * DAY, label=str(n))
    kept = _done_extract(owner.organisation, age=DAY, label="kept")

    assert services.expire_old_extract_files() == 5
    assert ExtractRequest.objects.filter(status=Status.EXPIRED).count() == 5
    assert _status(kept) == Status.DONE
    assert len(private_files()) == 1


def test_a_file_already_gone_from_storage_still_expires(owner):
    """A rerun after a crash between deleting the object and marking the row converges."""
    old = _done_extract(owner.organisation, age=31 * DAY, label="old")
    old.file.file.storage.delete(old.file.file.name)

    assert services.expire_old_extract_files() == 1
    assert _status(old) == Status.EXPIRED


def test_extracts_page_and_file_manager_say_it_expired(owner_client, owner):
    old = _done_extract(owner.organisation, age=31 * DAY, label="old")
    services.expire_old_extract_files()
    old.file.refresh_from_db()
    expired_on = timezone.localtime(old.file.expired_at)

    extracts_page = page_text(owner_client.get("/extracts/"))
    assert "Expired" in extracts_page
    assert f"Expired on {expired_on:%-d %b %Y} (token-extract-old.csv.gz): files are kept 30 days." in extracts_page
    assert f"/files/{old.file_id}/download/" not in extracts_page

    files_page = page_text(owner_client.get("/files/?section=extracts"))
    assert f"Expired on {expired_on:%-d %b %Y}" in files_page
    assert "request a new one" in files_page
    assert f"/files/{old.file_id}/download/" not in files_page


def test_download_of_an_expired_extract_is_gone_with_a_message(owner_client, owner):
    old = _done_extract(owner.organisation, age=31 * DAY, label="old")
    services.expire_old_extract_files()

    response = owner_client.get(f"/files/{old.file_id}/download/")

    assert response.status_code == 410
    page = page_text(response)
    assert "This token extract expired on" in page
    assert "extracts are kept 30 days. An admin can request a new one on the Token extracts page." in page
    assert not AuditEvent.objects.filter(action="file.downloaded").exists()


def test_outsider_still_gets_404_for_an_expired_extract(outsider_client, owner):
    old = _done_extract(owner.organisation, age=31 * DAY, label="old")
    services.expire_old_extract_files()

    assert outsider_client.get(f"/files/{old.file_id}/download/").status_code == 404


def test_an_expired_entry_can_still_be_deleted(owner_client, owner):
    old = _done_extract(owner.organisation, age=31 * DAY, label="old")
    services.expire_old_extract_files()

    response = owner_client.post(f"/files/{old.file_id}/delete/")

    assert response.status_code == 302
    assert not StoredFile.objects.exists()
    assert _status(old) == Status.EXPIRED


@pytest.mark.parametrize("name", ["expire-old-extract-files"])
def test_beat_schedule_names_the_task(name):
    entry = settings.CELERY_BEAT_SCHEDULE[name]
    assert entry["task"] == expire_old_extract_files.name
    assert entry["schedule"] <= 24 * 60 * 60


def test_detail_page_of_an_expired_extract_says_so_without_a_download_button(owner_client, owner):
    old = _done_extract(owner.organisation, age=31 * DAY, label="old")
    services.expire_old_extract_files()

    page = page_text(owner_client.get(f"/files/{old.file_id}/"))

    assert "the file was deleted at the end of its retention period" in page
    assert "The portal" in page  # written by the schedule: no person uploaded it
    assert f"/files/{old.file_id}/download/" not in page
