"""Compliance documents with an expiry date, in real browsers (issue #17 point 3): support sets a
document's type and expiry on its admin page; the customer's File Manager shows it as expiring,
then expired, and the profile's Verified stamp says so; the daily task emails the admins."""

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.formats import date_format
from playwright.sync_api import Browser, Page, expect

from accounts.models import Organisation
from audit.models import AuditEvent
from files import services as files
from files.models import Section, StoredFile
from tests.e2e.journeys import log_in
from tests.factories import AdminFactory, OrganisationFactory
from tests.files.helpers import pdf_of_size

DOCUMENT = "pci-dss-attestation-2026.pdf"


def support_sets_expiry(page: Page, base_url: str, stored: StoredFile, *, link: str, expires_on: str) -> None:
    """In the admin: the document's change page, its expiry page, type and date, Save."""
    page.goto(f"{base_url}/admin/files/storedfile/{stored.pk}/change/")
    page.get_by_role("link", name=link).click()
    expect(page.get_by_role("heading", name=re.compile(f"Type and expiry of {re.escape(DOCUMENT)}"))).to_be_visible()
    page.get_by_label("Document type").select_option(label="PCI DSS attestation")
    page.get_by_label("Expires on").fill(expires_on)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text(f"Document type and expiry of {DOCUMENT} saved.")).to_be_visible()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_support_dates_a_document_and_the_customer_sees_it_expiring_then_expired(
    live_server, transactional_db, support_staff, browser: Browser, page: Page, console_messages, mailoutbox
):
    organisation: Organisation = OrganisationFactory.create(
        name="Acme Payments Ltd", is_verified=True, verified_at=timezone.now()
    )
    owner = AdminFactory.create(organisation=organisation, email="olivia@acme.example", full_name="Olivia Owner")
    stored = files.upload_file(
        acting_user=owner,
        section=Section.COMPLIANCE,
        upload=SimpleUploadedFile(DOCUMENT, pdf_of_size(2048), "application/pdf"),
    )
    today = timezone.localdate()
    soon, yesterday = today + timedelta(days=10), today - timedelta(days=1)

    # Olivia, in her own browser: the document is listed, no expiry yet; the stamp says Verified.
    customer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    customer.context.set_default_timeout(10_000)
    customer.on("pageerror", lambda error: console_messages.append(f"pageerror: {error}"))
    log_in(customer, live_server.url, owner)
    customer.goto(f"{live_server.url}/files/?section=compliance")
    row = customer.get_by_role("table", name="Compliance files of Acme Payments Ltd").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).not_to_contain_text("Expir")
    customer.goto(f"{live_server.url}/profile/")
    expect(customer.locator(".stamp").first).to_have_text("Verified")

    # Support, in the admin: the document is a PCI DSS attestation valid for ten more days.
    log_in(page, live_server.url, support_staff)
    support_sets_expiry(page, live_server.url, stored, link="Set type and expiry", expires_on=soon.isoformat())
    stored.refresh_from_db()
    assert (stored.document_type, stored.expires_on) == ("pci_dss", soon)

    # Olivia's File Manager: Expiring, with the date; the profile's stamp says documents are expiring.
    customer.goto(f"{live_server.url}/files/?section=compliance")
    expect(row.locator(".badge", has_text="Expiring")).to_be_visible()
    expect(row).to_contain_text(f"PCI DSS attestation expires on {date_format(soon)}")
    customer.goto(f"{live_server.url}/profile/")
    expect(customer.get_by_text("Verified — documents expiring")).to_be_visible()

    # Support corrects the date: it expired yesterday.
    support_sets_expiry(page, live_server.url, stored, link="Change type or expiry", expires_on=yesterday.isoformat())

    customer.goto(f"{live_server.url}/files/?section=compliance")
    expect(row.locator(".badge", has_text="Expired")).to_be_visible()
    expect(row).to_contain_text(f"PCI DSS attestation expired on {date_format(yesterday)}; please upload a current one")
    customer.goto(f"{live_server.url}/profile/")
    expect(customer.get_by_text("Verified — documents expired")).to_be_visible()

    # The daily task tells the admins once; support's two changes are in the audit trail.
    mailoutbox.clear()
    files.send_expiry_notices(today=today)
    files.send_expiry_notices(today=today)
    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["olivia@acme.example"], f"PCI DSS attestation {DOCUMENT} has expired")
    ]
    changes = AuditEvent.objects.filter(action="file.expiry_set").order_by("pk")
    assert [(e.actor, e.details["expires_on"]) for e in changes] == [
        (support_staff, soon.isoformat()),
        (support_staff, yesterday.isoformat()),
    ]
    assert [m for m in console_messages if m.startswith("pageerror:")] == []
    customer.context.close()
