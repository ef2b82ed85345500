"""Support follows token extracts in the admin and retries a failed one, never seeing what one holds."""

import gzip

import pytest
from django.core import mail
from django.core.files.base import ContentFile

from audit.models import AuditEvent
from extracts.models import ExtractRequest, Kind, Status
from files import services as files
from tests.conftest import page_text as _page
from tests.extracts.conftest import BOTH_DATABASES, give_tokens, read_extract

pytestmark = pytest.mark.django_db(databases=BOTH_DATABASES)

CHANGELIST = "/admin/extracts/extractrequest/"


@pytest.fixture
def done(owner):
    """A finished extract of the owner's organisation, with its file in the File Manager."""
    content = gzip.compress(b"token,created_at\ntok_SECRETVAULTTOKEN,2025-01-01\n")
    stored = files.store_file(
        organisation=owner.organisation,
        section="extracts",
        name="token-extract-acme-secretname.csv.gz",
        content=ContentFile(content),
        size=len(content),
        sha256="c" * 64,
        content_type="application/gzip",
        uploaded_by=owner,
    )
    return ExtractRequest.objects.create(
        organisation=owner.organisation,
        requested_by=owner,
        status=Status.DONE,
        rows_written=1234,
        rows_total=1234,
        progress=100,
        attempts=1,
        file=stored,
    )


@pytest.fixture
def failed(owner):
    return ExtractRequest.objects.create(
        organisation=owner.organisation,
        requested_by=owner,
        status=Status.FAILED,
        failure_reason="Failed while reading the vault (OperationalError).",
        rows_written=500,
        rows_total=2000,
        progress=25,
        attempts=2,
    )


def _retry(client, *extracts):
    return client.post(
        CHANGELIST, {"action": "retry", "_selected_action": [e.pk for e in extracts], "index": "0"}, follow=True
    )


def test_support_sees_each_extracts_organisation_status_progress_rows_and_requester(
    support_client, done, failed, outsider
):
    ExtractRequest.objects.create(
        organisation=outsider.organisation,
        requested_by=outsider,
        status=Status.RUNNING,
        rows_written=300,
        rows_total=1000,
        progress=30,
        attempts=1,
    )

    page = _page(support_client.get(CHANGELIST))

    assert "Acme Payments Ltd" in page and "Globex Corp" in page
    for shown in ("Done", "Failed", "Running", "1234", "30% (300 of 1000 rows)", "Olivia Owner", "Oscar Outsider"):
        assert shown in page, shown
    assert "Failed while reading the vault" in _page(support_client.get(f"{CHANGELIST}{failed.pk}/change/"))


def test_support_filters_extracts_by_status(support_client, done, failed):
    page = _page(support_client.get(CHANGELIST + "?status__exact=failed"))

    assert f"Token extract #{failed.pk}" in page
    assert f"Token extract #{done.pk}" not in page


def test_no_admin_page_leads_to_an_extracts_contents(support_client, done):
    stored = done.file
    pages = [
        _page(support_client.get(CHANGELIST)),
        _page(support_client.get(f"{CHANGELIST}{done.pk}/change/")),
        _page(support_client.get("/admin/files/storedfile/")),
    ]

    for page in pages:
        assert "secretname" not in page  # not even the file's name
        assert "SECRETVAULTTOKEN" not in page
        assert f"/files/{stored.pk}/" not in page and f"/storedfile/{stored.pk}/" not in page
    assert support_client.get(f"/admin/files/storedfile/{stored.pk}/download/").status_code == 404
    assert support_client.get(f"/admin/files/storedfile/{stored.pk}/change/").status_code == 302  # "not found"
    assert not AuditEvent.objects.filter(action="file.downloaded").exists()


def test_support_retries_a_failed_extract_and_the_worker_writes_it(
    support_client, support, failed, owner, vault_table, django_capture_on_commit_callbacks
):
    give_tokens(owner.organisation, 3)

    with django_capture_on_commit_callbacks(execute=True):
        response = _retry(support_client, failed)

    retry = ExtractRequest.objects.exclude(pk=failed.pk).get()
    assert (
        f"Token extract #{failed.pk} (Failed) of Acme Payments Ltd is queued again as token extract #{retry.pk}."
        in (_page(response))
    )
    assert (retry.status, retry.kind, retry.requested_by, retry.rows_written) == (Status.DONE, Kind.ONE_OFF, support, 3)
    assert len(read_extract(retry.file)[1]) == 4  # the header and three tokens
    failed.refresh_from_db()
    assert failed.status == Status.FAILED  # the record of what happened stays
    event = AuditEvent.objects.get(action="extract.retried")
    assert (event.actor, event.organisation, event.target_label) == (
        support,
        owner.organisation,
        f"Token extract #{failed.pk}",
    )
    assert event.details == {"extract": failed.pk, "retry": retry.pk}
    assert AuditEvent.objects.get(action="extract.requested").actor == support
    assert [m.subject for m in mail.outbox] == ["Your token extract is ready (Acme Payments Ltd)"]


def test_only_failed_extracts_are_retried(support_client, done):
    response = _retry(support_client, done)

    assert "has not failed: only a failed extract is retried." in _page(response)
    assert ExtractRequest.objects.count() == 1
    assert not AuditEvent.objects.filter(action="extract.retried").exists()


def test_a_retry_waits_while_another_extract_is_active(support_client, failed, owner):
    ExtractRequest.objects.create(organisation=owner.organisation, requested_by=owner, status=Status.RUNNING)

    response = _retry(support_client, failed)

    assert "is already running" in _page(response)
    assert ExtractRequest.objects.count() == 2
    assert not AuditEvent.objects.filter(action="extract.retried").exists()


def test_extracts_are_not_added_changed_or_deleted_in_the_admin(support_client, failed):
    assert support_client.get(CHANGELIST + "add/").status_code == 403
    assert support_client.post(f"{CHANGELIST}{failed.pk}/delete/", {"post": "yes"}).status_code == 403
    page = _page(support_client.get(f"{CHANGELIST}{failed.pk}/change/"))
    assert 'name="status"' not in page and "Save" not in page
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


@pytest.mark.parametrize("url", [CHANGELIST, "/admin/extracts/"])
def test_customers_cannot_open_the_extracts_admin(owner_client, failed, url):
    assert owner_client.get(url, follow=True).status_code == 403
    assert _retry(owner_client, failed).status_code == 403
    assert ExtractRequest.objects.count() == 1
