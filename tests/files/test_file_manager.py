"""The File Manager (SPEC §6): sections, upload, download, delete, and nothing across organisations."""

import hashlib
import re

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from audit.models import AuditEvent
from files import services
from files.models import Section, StoredFile
from tests.conftest import log_in
from tests.conftest import page_text as _page
from tests.factories import UserFactory
from tests.files.helpers import (
    EXE,
    MB,
    MULTIPART,
    PDF,
    grant_manage_files,
    multipart_file,
    pdf_file,
    pdf_of_size,
    png,
    stored_objects,
    upload,
)


@pytest.fixture
def private_root(tmp_path):
    """Where tests/conftest.py points the private storage for each test."""
    return tmp_path / "private-files"


@pytest.fixture
def colleague(organisation) -> User:
    return UserFactory.create(organisation=organisation, email="cleo@acme.example", full_name="Cleo Colleague")


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


# --- The sections ---------------------------------------------------------------------------------


def test_compliance_list_shows_name_size_uploader_time_short_hash_and_review_state(member_client, member, owner):
    pending = upload(member, "compliance", "passport.pdf")
    reviewed = upload(owner, "compliance", "certificate of incorporation.pdf")
    support = UserFactory.create(organisation=None, is_staff=True, full_name="Sam Support")
    services.review(stored=reviewed, acting_user=support)
    reviewed.refresh_from_db()

    page = _page(member_client.get("/files/"))

    assert f'<a href="/files/{pending.pk}/">passport.pdf</a>' in page
    assert f"{len(PDF)}\xa0bytes" in page  # filesizeformat keeps number and unit together
    assert "Max Member" in page and "Olivia Owner" in page
    assert pending.uploaded_at.strftime("%-d %b %Y, %H:%M") in page
    assert f'<code class="hash" title="{pending.sha256}">{pending.sha256[:12]}</code>' in page
    assert "Pending review" in page
    assert f"by Sam Support, {reviewed.reviewed_at:%-d %b %Y, %H:%M}" in page


def test_each_section_lists_only_its_own_files(member_client, member):
    upload(member, "compliance", "passport.pdf")
    upload(member, "other", "price list.pdf")

    compliance = _page(member_client.get("/files/?section=compliance"))
    other = _page(member_client.get("/files/?section=other"))

    assert "passport.pdf" in compliance and "price list.pdf" not in compliance
    assert "price list.pdf" in other and "passport.pdf" not in other
    assert "Review" not in other  # only compliance documents are reviewed


def test_every_user_of_the_organisation_sees_its_files_and_no_one_elses(member_client, owner, outsider):
    upload(owner, "other", "our contract.pdf")
    upload(outsider, "other", "globex contract.pdf")

    page = _page(member_client.get("/files/?section=other"))

    assert "our contract.pdf" in page
    assert "globex contract.pdf" not in page


def test_empty_section_says_so_and_offers_the_upload_form(member_client):
    page = _page(member_client.get("/files/?section=other"))

    assert "No files yet" in page
    assert 'action="/files/other/upload/"' in page
    assert 'enctype="multipart/form-data"' in page


def test_unknown_section_shows_compliance(member_client):
    response = member_client.get("/files/?section=../../etc")

    assert response.status_code == 200
    assert 'aria-current="page">Compliance</a>' in _page(response)


def test_admin_sees_token_extracts_read_only_with_download_links(owner_client, owner, organisation):
    extract = services.store_file(
        organisation=organisation,
        section="extracts",
        name="tokens-2026-11-26.csv.gz",
        content=SimpleUploadedFile("x", b"\x1f\x8b\x08\x00gzip"),
        size=9,
        sha256="a" * 64,
        content_type="application/gzip",
        uploaded_by=owner,
    )

    page = _page(owner_client.get("/files/?section=extracts"))

    assert 'aria-current="page">Token extracts</a>' in page
    assert "tokens-2026-11-26.csv.gz" in page
    assert f'href="/files/{extract.pk}/download/"' in page
    assert 'enctype="multipart/form-data"' not in page  # nothing is uploaded here
    assert f'href="{reverse("extract-list")}"' in page  # where extracts are requested


def test_member_does_not_see_token_extracts(member_client, owner, organisation):
    extract = services.store_file(
        organisation=organisation,
        section="extracts",
        name="tokens.csv.gz",
        content=SimpleUploadedFile("x", b"\x1f\x8b\x08\x00"),
        size=4,
        sha256="b" * 64,
        content_type="application/gzip",
        uploaded_by=owner,
    )

    assert "Token extracts" not in _page(member_client.get("/files/"))
    assert member_client.get("/files/?section=extracts").status_code == 404
    for path in ("", "download/", "delete/"):
        assert member_client.get(f"/files/{extract.pk}/{path}").status_code == 404


def test_files_is_in_the_main_navigation(member_client):
    page = _page(member_client.get("/files/"))

    assert '<a href="/files/" aria-current="page">Files</a>' in page


def test_files_page_query_count_does_not_grow_with_files(member_client, member, owner):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert member_client.get("/files/?section=compliance").status_code == 200
        return len(ctx)

    reviewer = UserFactory.create(organisation=None, is_staff=True)
    for n in range(2):
        services.review(stored=upload(member, "compliance", f"scan {n}.pdf"), acting_user=reviewer)
    few = count_queries()
    for n in range(28):
        stored = upload(owner if n % 2 else member, "compliance", f"page {n}.pdf")
        if n % 3:
            services.review(stored=stored, acting_user=reviewer)
    many = count_queries()

    assert StoredFile.objects.count() == 30
    assert many == few


# --- Uploading ------------------------------------------------------------------------------------


def test_member_uploads_a_file_to_other_files(member_client, member, private_root, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post("/files/other/upload/", {"file": pdf_file("Price list 2026.pdf")}, follow=True)

    assert response.redirect_chain == [("/files/?section=other", 302)]
    assert "“Price list 2026.pdf” is uploaded to Other files." in _page(response)
    stored = StoredFile.objects.get()
    assert (stored.organisation, stored.section, stored.uploaded_by) == (member.organisation, "other", member)
    assert (stored.name, stored.size, stored.content_type) == ("Price list 2026.pdf", len(PDF), "application/pdf")
    assert stored.sha256 == hashlib.sha256(PDF).hexdigest()
    [on_disk] = stored_objects(private_root)
    assert re.fullmatch(r"[0-9a-f]{32}\.pdf", on_disk.name)  # a random name, the real extension
    assert on_disk.read_bytes() == PDF
    assert mail.outbox == []  # only compliance uploads are sent to support
    event = AuditEvent.objects.get(action="file.uploaded")
    assert (event.actor, event.organisation) == (member, member.organisation)
    assert event.target_label == "Price list 2026.pdf (Other files)"
    assert event.details["sha256"] == stored.sha256


def test_compliance_upload_emails_support(member_client, member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post("/files/compliance/upload/", {"file": pdf_file("passport.pdf")}, follow=True)

    assert "Support has been told and will review it." in _page(response)
    stored = StoredFile.objects.get()
    [email] = mail.outbox
    assert email.to == [settings.SUPPORT_EMAIL]
    assert email.subject == "[Compliance] Acme Payments Ltd uploaded passport.pdf"
    assert "Max Member <member@acme.example>" in email.body
    assert stored.sha256 in email.body
    assert f"/admin/files/storedfile/{stored.pk}/change/" in email.body


def test_content_decides_the_type_not_the_name(member_client, member, private_root):
    member_client.post("/files/other/upload/", {"file": SimpleUploadedFile("diagram.pdf", png())})

    stored = StoredFile.objects.get()
    assert (stored.name, stored.content_type) == ("diagram.png", "image/png")
    assert stored_objects(private_root)[0].suffix == ".png"


def test_same_name_twice_keeps_both_files(member_client, private_root):
    member_client.post("/files/other/upload/", {"file": pdf_file("contract.pdf")})
    member_client.post("/files/other/upload/", {"file": pdf_file("contract.pdf", PDF + b"% v2\n")})

    assert sorted(StoredFile.objects.values_list("name", "size")) == [
        ("contract.pdf", len(PDF)),
        ("contract.pdf", len(PDF) + 5),
    ]
    first, second = stored_objects(private_root)
    assert first.name != second.name
    assert {first.read_bytes(), second.read_bytes()} == {PDF, PDF + b"% v2\n"}


@pytest.mark.parametrize(
    ("sent_name", "kept_name"),
    [
        ("../../../etc/cron.d/evil.pdf", "evil.pdf"),
        ("C:\\Users\\max\\Desktop\\scan.pdf", "scan.pdf"),
        ("..\\..\\windows/system32\\..\\statement.pdf", "statement.pdf"),
        ("bell\x07and\x1bescape.pdf", "bellandescape.pdf"),
        ("   .hidden report.pdf", "hidden report.pdf"),
        ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
    ],
    ids=["unix-path", "windows-path", "mixed-path", "control-characters", "leading-dot", "too-long"],
)
def test_path_and_control_characters_in_the_name_are_cleaned(member_client, private_root, sent_name, kept_name):
    response = member_client.post("/files/other/upload/", multipart_file(sent_name, PDF), content_type=MULTIPART)

    assert response.status_code == 302
    assert StoredFile.objects.get().name == kept_name
    [on_disk] = stored_objects(private_root)
    assert on_disk.is_relative_to(private_root / "files")
    assert on_disk.read_bytes() == PDF


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("scan.pdf", pdf_of_size(MB + 1), "“scan.pdf” is too big: files may be at most 1 MB."),
        (
            "invoice.pdf",
            EXE,
            "This type of file is not accepted (judged from its content). "
            "Accepted: CSV, DOCX, JPG, PDF, PNG, TXT, XLSX.",
        ),
        ("notes.txt", b"caf\xe9 au lait", "This type of file is not accepted"),
        ("empty.pdf", b"", "The submitted file is empty."),
    ],
    ids=["too-big", "executable-named-pdf", "not-utf8-text", "empty"],
)
@pytest.mark.parametrize("section", ["compliance", "other"])
def test_refused_upload_says_why_and_stores_nothing(
    member_client, private_root, settings, section, name, content, message, django_capture_on_commit_callbacks
):
    settings.FILES_MAX_UPLOAD_BYTES = MB

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(f"/files/{section}/upload/", {"file": SimpleUploadedFile(name, content)})

    assert response.status_code == 400
    assert message in _page(response)
    assert 'aria-current="page">' + Section(section).label in _page(response)  # back on the same tab
    assert not StoredFile.objects.exists()
    assert stored_objects(private_root) == []
    assert not AuditEvent.objects.filter(action="file.uploaded").exists()
    assert mail.outbox == []


def test_file_of_exactly_the_limit_is_accepted(member_client, settings, private_root):
    settings.FILES_MAX_UPLOAD_BYTES = MB

    response = member_client.post("/files/other/upload/", {"file": pdf_file("scan.pdf", pdf_of_size(MB))})

    assert response.status_code == 302
    assert StoredFile.objects.get().size == MB
    assert stored_objects(private_root)[0].stat().st_size == MB


def test_files_smuggled_into_one_upload_count_against_the_request_limit(member_client, settings, private_root):
    settings.FILES_MAX_UPLOAD_BYTES = MB
    settings.FILES_MAX_REQUEST_BYTES = MB
    half = pdf_of_size(MB // 2 + 10)

    response = member_client.post(
        "/files/other/upload/", {"file": [SimpleUploadedFile("a.pdf", half), SimpleUploadedFile("b.pdf", half)]}
    )

    assert response.status_code == 400
    assert "The files are too big together: at most 1 MB can be sent at once." in _page(response)
    assert not StoredFile.objects.exists()
    assert stored_objects(private_root) == []


def test_upload_without_a_file_asks_for_one(member_client, private_root):
    response = member_client.post("/files/other/upload/", {})

    assert response.status_code == 400
    assert "This field is required." in _page(response)
    assert not StoredFile.objects.exists()


def test_nothing_is_uploaded_to_token_extracts_or_an_unknown_section(member_client, owner_client, private_root):
    for client in (member_client, owner_client):
        for section in ("extracts", "secret", "123"):
            assert client.post(f"/files/{section}/upload/", {"file": pdf_file()}).status_code == 404
    assert not StoredFile.objects.exists()
    assert stored_objects(private_root) == []


def test_upload_address_opened_in_the_browser_goes_to_the_section(member_client):
    response = member_client.get("/files/compliance/upload/")

    assert response.status_code == 302
    assert response["Location"] == "/files/?section=compliance"


def test_upload_still_needs_the_csrf_token(member, private_root):
    browser = log_in(Client(enforce_csrf_checks=True), member)

    refused = browser.post("/files/other/upload/", {"file": pdf_file()})
    page = _page(browser.get("/files/?section=other"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    accepted = browser.post("/files/other/upload/", {"csrfmiddlewaretoken": token, "file": pdf_file()})

    assert refused.status_code == 403
    assert accepted.status_code == 302
    assert StoredFile.objects.count() == 1


def test_a_failing_row_takes_its_stored_object_with_it(member, private_root):
    unsaved_organisation = type(member.organisation)(name="Not saved Ltd")

    with pytest.raises(ValueError, match="unsaved related object"):
        services.store_file(
            organisation=unsaved_organisation,
            section="other",
            name="contract.pdf",
            content=pdf_file(),
            size=len(PDF),
            sha256=hashlib.sha256(PDF).hexdigest(),
            content_type="application/pdf",
            uploaded_by=member,
        )

    assert not StoredFile.objects.exists()
    assert stored_objects(private_root) == []


def test_anonymous_visitor_is_sent_to_log_in(client, member, private_root):
    stored = upload(member)

    for path in ("/files/", f"/files/{stored.pk}/", f"/files/{stored.pk}/download/", f"/files/{stored.pk}/delete/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.post("/files/other/upload/", {"file": pdf_file()}).status_code == 302
    assert StoredFile.objects.count() == 1


# --- Detail and download --------------------------------------------------------------------------


def test_detail_page_shows_the_full_hash_and_review_state(member_client, member):
    stored = upload(member, "compliance", "passport.pdf")

    page = _page(member_client.get(f"/files/{stored.pk}/"))

    assert f'<code class="hash">{stored.sha256}</code>' in page
    assert "Pending review" in page
    assert "application/pdf" in page
    assert f'href="/files/{stored.pk}/download/"' in page


def test_download_streams_the_file_as_an_attachment_and_is_audited(member_client, member, colleague):
    stored = upload(colleague, "compliance", "Contract (signed).pdf")

    response = member_client.get(f"/files/{stored.pk}/download/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Disposition"] == 'attachment; filename="Contract (signed).pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    event = AuditEvent.objects.get(action="file.downloaded")
    assert (event.actor, event.organisation, event.target_label) == (
        member,
        member.organisation,
        "Contract (signed).pdf (Compliance)",
    )


def test_download_of_a_non_latin_name_keeps_the_name(member_client, member):
    stored = upload(member, "other", "請求書 2026.pdf")

    response = member_client.get(f"/files/{stored.pk}/download/")

    assert response["Content-Disposition"] == "attachment; filename*=utf-8''%E8%AB%8B%E6%B1%82%E6%9B%B8%202026.pdf"


def test_file_missing_from_storage_is_a_404_not_an_error(member_client, member, private_root):
    stored = upload(member)
    for path in stored_objects(private_root):
        path.unlink()

    assert member_client.get(f"/files/{stored.pk}/download/").status_code == 404
    assert not AuditEvent.objects.filter(action="file.downloaded").exists()


@pytest.mark.parametrize("path", ["", "download/"])
def test_detail_and_download_answer_only_get(member_client, member, path):
    stored = upload(member)

    assert member_client.post(f"/files/{stored.pk}/{path}").status_code == 405


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("path", ["", "download/", "delete/"])
def test_another_organisations_user_gets_404_on_every_file_url(
    outsider_client, member, owner, private_root, method, path
):
    files = [upload(member, "compliance"), upload(member, "other")]

    for stored in files:
        response = getattr(outsider_client, method)(f"/files/{stored.pk}/{path}")
        assert response.status_code == 404
    assert outsider_client.get("/files/999999/").status_code == 404
    assert StoredFile.objects.count() == 2
    assert len(stored_objects(private_root)) == 2
    assert not AuditEvent.objects.filter(action__in=["file.downloaded", "file.deleted"]).exists()


# --- Deleting -------------------------------------------------------------------------------------


def test_uploader_deletes_their_file_after_confirming(member_client, member, private_root):
    stored = upload(member, "compliance", "old passport.pdf")

    confirm = member_client.get(f"/files/{stored.pk}/delete/")
    assert confirm.status_code == 200
    assert "Delete old passport.pdf?" in _page(confirm)
    assert StoredFile.objects.exists()  # asking is not deleting

    response = member_client.post(f"/files/{stored.pk}/delete/", follow=True)

    assert response.redirect_chain == [("/files/?section=compliance", 302)]
    assert "“old passport.pdf” is deleted." in _page(response)
    assert not StoredFile.objects.exists()
    assert stored_objects(private_root) == []
    event = AuditEvent.objects.get(action="file.deleted")
    assert (event.actor, event.target_label) == (member, "old passport.pdf (Compliance)")


def test_admin_deletes_a_members_file(owner_client, member, private_root):
    stored = upload(member)

    assert owner_client.post(f"/files/{stored.pk}/delete/").status_code == 302

    assert not StoredFile.objects.exists()
    assert stored_objects(private_root) == []


def test_user_allowed_to_manage_files_deletes_a_colleagues_file(colleague, member, private_root):
    stored = upload(member)
    manager = log_in(Client(), grant_manage_files(colleague))

    assert "Delete" in _page(manager.get(f"/files/{stored.pk}/"))
    assert manager.post(f"/files/{stored.pk}/delete/").status_code == 302

    assert not StoredFile.objects.exists()
    assert stored_objects(private_root) == []


def test_other_user_cannot_delete_a_colleagues_file(colleague, member, private_root):
    stored = upload(member, "other", "members file.pdf")
    other = log_in(Client(), colleague)

    assert f'href="/files/{stored.pk}/delete/"' not in _page(other.get("/files/?section=other"))
    assert f'href="/files/{stored.pk}/delete/"' not in _page(other.get(f"/files/{stored.pk}/"))
    for response in (other.get(f"/files/{stored.pk}/delete/"), other.post(f"/files/{stored.pk}/delete/")):
        assert response.status_code == 403
        assert "Only the person who uploaded a file, or an admin, can delete it." in _page(response)
    assert StoredFile.objects.get() == stored
    assert len(stored_objects(private_root)) == 1
    assert "file.deleted" not in _actions()


def test_delete_file_service_refuses_other_users(colleague, member, outsider):
    stored = upload(member)

    for person in (colleague, outsider):
        with pytest.raises(PermissionDenied):
            services.delete_file(stored=stored, acting_user=person)
    assert StoredFile.objects.count() == 1
