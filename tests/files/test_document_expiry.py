"""Compliance documents with an expiry date: support sets it, the admins are reminded 30 and 7 days
before and on the day (once each), the File Manager and the Verified stamp say so."""

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils.html import strip_tags

from accounts.models import User
from audit.models import AuditEvent
from files import selectors, services, tasks
from files.models import DocumentType, ExpiryNotice, StoredFile
from tests.conftest import log_in
from tests.conftest import page_text as _page
from tests.factories import AdminFactory, UserFactory
from tests.files.helpers import upload

TODAY = dt.date(2026, 12, 3)
NOON = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
CHANGELIST = "/admin/files/storedfile/"


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


def _certificate(member: User, support: User, *, expires_on: dt.date | None, name: str = "pci.pdf") -> StoredFile:
    stored = upload(member, "compliance", name)
    return services.set_document_expiry(
        stored=stored, document_type=DocumentType.PCI_DSS, expires_on=expires_on, acting_user=support
    )


def _run_task_on(clock: time_machine.Traveller, day: dt.date, capture) -> list[mail.EmailMessage]:
    clock.move_to(dt.datetime.combine(day, dt.time(6, 0), tzinfo=dt.UTC))
    before = len(mail.outbox)
    with capture(execute=True):
        tasks.send_document_expiry_notices.delay()
    return mail.outbox[before:]


# --- services ---------------------------------------------------------------------------------


def test_support_sets_type_and_expiry_and_it_is_audited(member, support):
    stored = upload(member, "compliance", "pci.pdf")

    services.set_document_expiry(
        stored=stored, document_type=DocumentType.PCI_DSS, expires_on=dt.date(2027, 6, 30), acting_user=support
    )

    stored.refresh_from_db()
    assert (stored.document_type, stored.expires_on) == ("pci_dss", dt.date(2027, 6, 30))
    event = AuditEvent.objects.get(action="file.expiry_set")
    assert (event.actor, event.organisation) == (support, member.organisation)
    assert "pci.pdf" in event.target_label
    assert event.details["expires_on"] == "2027-06-30"


def test_saving_the_same_values_records_nothing_new(member, support):
    stored = _certificate(member, support, expires_on=dt.date(2027, 6, 30))
    services.set_document_expiry(
        stored=stored, document_type=DocumentType.PCI_DSS, expires_on=dt.date(2027, 6, 30), acting_user=support
    )
    assert AuditEvent.objects.filter(action="file.expiry_set").count() == 1


def test_only_compliance_documents_get_an_expiry(member, support):
    other = upload(member, "other", "price list.pdf")

    with pytest.raises(ValidationError, match="Only compliance documents"):
        services.set_document_expiry(
            stored=other, document_type=DocumentType.OTHER, expires_on=TODAY, acting_user=support
        )

    other.refresh_from_db()
    assert (other.document_type, other.expires_on) == ("", None)
    assert not AuditEvent.objects.filter(action="file.expiry_set").exists()


def test_an_unknown_document_type_is_refused(member, support):
    stored = upload(member, "compliance", "pci.pdf")
    with pytest.raises(ValidationError, match="Unknown document type"):
        services.set_document_expiry(stored=stored, document_type="passport", expires_on=TODAY, acting_user=support)
    stored.refresh_from_db()
    assert stored.expires_on is None


# --- the daily task ---------------------------------------------------------------------------


def test_admins_are_emailed_30_and_7_days_before_and_on_the_day(
    clock, organisation, owner, member, support, django_capture_on_commit_callbacks
):
    second_admin = AdminFactory.create(organisation=organisation, email="second@acme.example")
    AdminFactory.create(organisation=organisation, email="gone@acme.example", is_active=False)
    expiry = dt.date(2027, 2, 1)
    _certificate(member, support, expires_on=expiry)
    capture = django_capture_on_commit_callbacks

    assert _run_task_on(clock, expiry - dt.timedelta(days=31), capture) == []
    thirty = _run_task_on(clock, expiry - dt.timedelta(days=30), capture)
    again = _run_task_on(clock, expiry - dt.timedelta(days=30), capture)
    between = _run_task_on(clock, expiry - dt.timedelta(days=20), capture)
    seven = _run_task_on(clock, expiry - dt.timedelta(days=7), capture)
    on_the_day = _run_task_on(clock, expiry, capture)
    after = _run_task_on(clock, expiry + dt.timedelta(days=1), capture)

    assert sorted(email.to[0] for email in thirty) == [owner.email, second_admin.email]  # not the member
    assert thirty[0].subject == "PCI DSS attestation pci.pdf expires on 1 Feb 2027"
    assert "in 30 days" in thirty[0].body
    assert f"{settings.PORTAL_BASE_URL}/files/?section=compliance" in thirty[0].body
    assert again == [] and between == [] and after == []
    assert len(seven) == 2 and "in 7 days" in seven[0].body
    assert len(on_the_day) == 2
    assert on_the_day[0].subject == "PCI DSS attestation pci.pdf has expired"
    assert ExpiryNotice.objects.count() == 3


def test_a_missed_day_sends_the_current_reminder_only(
    clock, owner, member, support, django_capture_on_commit_callbacks
):
    expiry = dt.date(2027, 2, 1)
    _certificate(member, support, expires_on=expiry)

    # The task did not run for weeks: five days before expiry, the 7-day reminder goes, once.
    emails = _run_task_on(clock, expiry - dt.timedelta(days=5), django_capture_on_commit_callbacks)

    assert len(emails) == 1 and "in 5 days" in emails[0].body
    assert list(ExpiryNotice.objects.values_list("days_before", flat=True)) == [7]


def test_a_new_expiry_date_starts_new_reminders(clock, owner, member, support, django_capture_on_commit_callbacks):
    stored = _certificate(member, support, expires_on=dt.date(2027, 1, 2))
    capture = django_capture_on_commit_callbacks
    assert len(_run_task_on(clock, dt.date(2026, 12, 3), capture)) == 1

    services.set_document_expiry(
        stored=stored, document_type=DocumentType.PCI_DSS, expires_on=dt.date(2027, 1, 3), acting_user=support
    )

    assert len(_run_task_on(clock, dt.date(2026, 12, 4), capture)) == 1


def test_reminders_go_to_the_documents_organisation_only(
    clock, owner, member, outsider, support, django_capture_on_commit_callbacks
):
    _certificate(member, support, expires_on=TODAY)

    emails = _run_task_on(clock, TODAY, django_capture_on_commit_callbacks)

    assert [email.to for email in emails] == [[owner.email]]
    assert all(outsider.email not in email.to for email in emails)


@pytest.mark.postgres
def test_two_runs_at_once_send_each_reminder_once(transactional_db):
    from django.db import connection

    from accounts.models import Organisation
    from tests.race import race

    organisation = Organisation.objects.create(name="Race Ltd")
    admin = AdminFactory.create(organisation=organisation, email="admin@race.example")
    support = UserFactory.create(organisation=None, is_staff=True)
    for n in range(5):
        stored = upload(admin, "compliance", f"doc{n}.pdf")
        services.set_document_expiry(
            stored=stored, document_type=DocumentType.INSURANCE, expires_on=TODAY, acting_user=support
        )
    mail.outbox.clear()
    assert connection.vendor == "postgresql"

    sent, errors = race([lambda: services.send_expiry_notices(today=TODAY) for _ in range(4)])

    assert errors == []
    assert sum(sent) == 5
    assert ExpiryNotice.objects.count() == 5
    assert sorted(email.subject for email in mail.outbox) == [
        f"Insurance certificate doc{n}.pdf has expired" for n in range(5)
    ]


# --- the File Manager and the Verified stamp --------------------------------------------------


def test_the_file_manager_marks_expired_and_expiring_documents(clock, member, member_client, support):
    _certificate(member, support, expires_on=TODAY - dt.timedelta(days=1), name="old.pdf")
    _certificate(member, support, expires_on=TODAY + dt.timedelta(days=10), name="soon.pdf")
    _certificate(member, support, expires_on=TODAY + dt.timedelta(days=200), name="fine.pdf")

    page = " ".join(strip_tags(_page(member_client.get("/files/?section=compliance"))).split())

    assert "Expired PCI DSS attestation expired on 2 Dec 2026; please upload a current one" in page
    assert "Expiring PCI DSS attestation expires on 13 Dec 2026" in page
    assert "PCI DSS attestation valid until 21 Jun 2027" in page


def test_the_file_managers_query_count_does_not_grow_with_documents(
    clock, member, member_client, support, django_assert_max_num_queries
):
    _certificate(member, support, expires_on=TODAY)
    with django_assert_max_num_queries(12) as one:
        member_client.get("/files/?section=compliance")
    for n in range(5):
        _certificate(member, support, expires_on=TODAY, name=f"doc{n}.pdf")
    with django_assert_max_num_queries(len(one.captured_queries)):
        member_client.get("/files/?section=compliance")


@pytest.mark.parametrize(
    ("days", "stamp"),
    [
        (31, "Verified</span>"),
        (30, "Verified — documents expiring"),
        (0, "Verified — documents expired"),
        (-3, "Verified — documents expired"),
    ],
)
def test_the_profiles_verified_stamp_shows_expiring_documents(clock, organisation, member, support, days, stamp):
    organisation.is_verified, organisation.verified_at = True, NOON
    organisation.save()
    _certificate(member, support, expires_on=TODAY + dt.timedelta(days=days))

    page = log_in(Client(), member).get("/profile/").content.decode()

    assert stamp in page
    assert page.count("documents expir") == (0 if days > 30 else 1)


def test_a_renewed_document_of_the_same_type_clears_the_stamp(clock, organisation, member, support):
    _certificate(member, support, expires_on=TODAY - dt.timedelta(days=1), name="2025.pdf")
    assert selectors.documents_state(organisation_id=organisation.pk) == "expired"

    _certificate(member, support, expires_on=TODAY + dt.timedelta(days=365), name="2026.pdf")

    assert selectors.documents_state(organisation_id=organisation.pk) == ""


def test_another_organisations_expired_documents_do_not_touch_the_stamp(clock, organisation, member, outsider, support):
    organisation.is_verified, organisation.verified_at = True, NOON
    organisation.save()
    _certificate(outsider, support, expires_on=TODAY - dt.timedelta(days=1))

    page = log_in(Client(), member).get("/profile/").content.decode()
    outsider_page = _page(log_in(Client(), outsider).get("/files/?section=compliance"))
    member_files = _page(log_in(Client(), member).get("/files/?section=compliance"))

    assert "documents expired" not in page
    assert "Expired" in outsider_page and "Expired" not in member_files


# --- the admin --------------------------------------------------------------------------------


def test_support_sets_type_and_expiry_in_the_admin(support_client, support, member):
    stored = upload(member, "compliance", "insurance.pdf")
    expiry_url = f"/admin/files/storedfile/{stored.pk}/expiry/"
    assert f'href="{expiry_url}"' in _page(support_client.get(f"/admin/files/storedfile/{stored.pk}/change/"))

    response = support_client.post(expiry_url, {"document_type": "insurance", "expires_on": "2027-03-31"}, follow=True)

    assert "Document type and expiry of insurance.pdf saved." in _page(response)
    stored.refresh_from_db()
    assert (stored.document_type, stored.expires_on) == ("insurance", dt.date(2027, 3, 31))
    assert AuditEvent.objects.get(action="file.expiry_set").actor == support


def test_a_bad_date_in_the_admin_is_refused_and_changes_nothing(support_client, member):
    stored = upload(member, "compliance", "insurance.pdf")

    response = support_client.post(
        f"/admin/files/storedfile/{stored.pk}/expiry/", {"document_type": "insurance", "expires_on": "31/31/2027"}
    )

    assert response.status_code == 200
    assert "Enter a valid date." in _page(response)
    stored.refresh_from_db()
    assert (stored.document_type, stored.expires_on) == ("", None)


def test_other_files_and_customers_have_no_expiry_page(support_client, member_client, member):
    other = upload(member, "other", "price list.pdf")
    compliance = upload(member, "compliance", "pci.pdf")

    assert support_client.get(f"/admin/files/storedfile/{other.pk}/expiry/").status_code == 404
    customer = member_client.get(f"/admin/files/storedfile/{compliance.pk}/expiry/")
    assert customer.status_code == 302 and "/admin/login/" in customer["Location"]


def test_support_lists_expiring_documents_across_organisations_by_expiry(
    clock, support_client, support, member, outsider
):
    _certificate(member, support, expires_on=TODAY + dt.timedelta(days=20), name="acme later.pdf")
    _certificate(outsider, support, expires_on=TODAY + dt.timedelta(days=5), name="globex sooner.pdf")
    _certificate(member, support, expires_on=TODAY - dt.timedelta(days=5), name="acme expired.pdf")
    _certificate(member, support, expires_on=TODAY + dt.timedelta(days=90), name="acme fine.pdf")

    expiring = _page(support_client.get(CHANGELIST + "?expiry=expiring&o=9"))
    expired = _page(support_client.get(CHANGELIST + "?expiry=expired"))

    assert "globex sooner.pdf" in expiring and "acme later.pdf" in expiring
    assert expiring.index("globex sooner.pdf") < expiring.index("acme later.pdf")
    assert "acme fine.pdf" not in expiring and "acme expired.pdf" not in expiring
    assert "acme expired.pdf" in expired and "globex sooner.pdf" not in expired


def test_beat_runs_the_reminders_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["send-document-expiry-notices"]
    assert entry == {"task": "files.tasks.send_document_expiry_notices", "schedule": 24 * 60 * 60}
