"""Support sees every organisation's files in the admin, downloads them and reviews compliance documents."""

from django.test import Client

from audit.models import AuditEvent
from files import services
from files.models import StoredFile
from tests.conftest import log_in
from tests.conftest import page_text as _page
from tests.factories import UserFactory
from tests.files.helpers import PDF, stored_objects, upload

CHANGELIST = "/admin/files/storedfile/"


def test_support_lists_every_organisations_files_by_section(support_client, member, outsider):
    upload(member, "compliance", "acme passport.pdf")
    upload(outsider, "other", "globex price list.pdf")

    page = _page(support_client.get(CHANGELIST))
    compliance_only = _page(support_client.get(CHANGELIST + "?section__exact=compliance"))

    assert "acme passport.pdf" in page and "globex price list.pdf" in page
    assert "Acme Payments Ltd" in page and "Globex Corp" in page
    assert "acme passport.pdf" in compliance_only and "globex price list.pdf" not in compliance_only


def test_support_finds_documents_pending_review(support_client, member, support):
    pending = upload(member, "compliance", "pending.pdf")
    done = upload(member, "compliance", "done.pdf")
    services.review(stored=done, acting_user=support)

    page = _page(support_client.get(CHANGELIST + "?review=pending"))

    assert pending.name in page
    assert done.name not in page


def test_support_marks_compliance_documents_reviewed(support_client, support, member, owner):
    passport = upload(member, "compliance", "passport.pdf")
    other = upload(member, "other", "price list.pdf")

    response = support_client.post(
        CHANGELIST, {"action": "mark_reviewed", "_selected_action": [passport.pk, other.pk]}, follow=True
    )

    assert "1 compliance document(s) marked reviewed." in _page(response)
    assert "1 file(s) skipped: only compliance documents are reviewed." in _page(response)
    passport.refresh_from_db()
    other.refresh_from_db()
    assert passport.reviewed_by == support and passport.reviewed_at is not None
    assert other.reviewed_at is None
    event = AuditEvent.objects.get(action="file.reviewed")
    assert (event.actor, event.organisation) == (support, member.organisation)
    # The customer sees who reviewed it.
    portal = _page(log_in(Client(), owner).get("/files/?section=compliance"))
    assert f"by Sam Support, {passport.reviewed_at:%-d %b %Y, %H:%M}" in portal


def test_a_second_review_keeps_the_first(support, member):
    stored = upload(member, "compliance")
    services.review(stored=stored, acting_user=support)
    first = stored.reviewed_at
    colleague = UserFactory.create(organisation=None, is_staff=True)

    services.review(stored=stored, acting_user=colleague)

    stored.refresh_from_db()
    assert (stored.reviewed_by, stored.reviewed_at) == (support, first)
    assert AuditEvent.objects.filter(action="file.reviewed").count() == 1


def test_support_downloads_a_file_from_the_admin(support_client, support, member):
    stored = upload(member, "compliance", "passport.pdf")
    download_url = f"/admin/files/storedfile/{stored.pk}/download/"

    assert f'href="{download_url}"' in _page(support_client.get(CHANGELIST))
    response = support_client.get(download_url)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Disposition"] == 'attachment; filename="passport.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    event = AuditEvent.objects.get(action="file.downloaded")
    assert (event.actor, event.organisation) == (support, member.organisation)


def test_customers_cannot_use_the_admin_download(member, owner):
    stored = upload(member, "compliance")

    for person in (member, owner):
        response = log_in(Client(), person).get(f"/admin/files/storedfile/{stored.pk}/download/", follow=True)
        assert response.status_code == 403
        assert PDF not in response.content
    assert not AuditEvent.objects.filter(action="file.downloaded").exists()


def test_support_cannot_edit_or_delete_files_in_the_admin(support_client, member, tmp_path):
    stored = upload(member, "compliance", "passport.pdf")

    change = support_client.post(f"/admin/files/storedfile/{stored.pk}/change/", {"name": "renamed.pdf"})
    delete = support_client.post(f"/admin/files/storedfile/{stored.pk}/delete/", {"post": "yes"})
    bulk = support_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [stored.pk]})

    assert change.status_code == 403
    assert delete.status_code == 403
    assert bulk.status_code in (200, 302)  # "no action selected": the admin offers no delete action
    assert StoredFile.objects.get().name == "passport.pdf"
    assert len(stored_objects(tmp_path / "private-files")) == 1
