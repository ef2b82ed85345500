"""Publishing and drawing the PDF hold when two requests come at once (row lock on the invoice).

Each thread has its own database connection, so these run against PostgreSQL's real row locks;
SQLite serialises all writers and would prove nothing.
"""

from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from billing import services
from billing.models import Invoice, Status
from tests.billing.helpers import make_invoice
from tests.factories import AdminFactory, OrganisationFactory
from tests.race import race

pytestmark = pytest.mark.postgres


def test_publishing_twice_at_once_publishes_and_emails_once(transactional_db):
    organisation = OrganisationFactory()
    owner = AdminFactory(organisation=organisation)
    draft = make_invoice(organisation, number="INV-RACE", status=Status.DRAFT)

    published, errors = race(
        [lambda: services.publish(invoice=Invoice.objects.get(pk=draft.pk), acting_user=None) for _ in range(4)]
    )

    assert len(published) == 1
    assert [exc.messages for exc in errors if isinstance(exc, ValidationError)] == [
        ["Invoice INV-RACE is already issued."]
    ] * 3
    assert [message.to for message in mail.outbox] == [[owner.email]]
    assert AuditEvent.objects.filter(action="invoice.published").count() == 1


def test_first_downloads_at_once_keep_one_generated_pdf(transactional_db):
    invoice = make_invoice(OrganisationFactory(), number="INV-PDF-RACE")

    documents, errors = race([lambda: services.invoice_pdf(Invoice.objects.get(pk=invoice.pk)).name for _ in range(4)])

    assert errors == []
    assert len(set(documents)) == 1
    root = Path(settings.STORAGES["private"]["OPTIONS"]["location"])
    assert [path.name for path in root.rglob("*.pdf")] == [Path(documents[0]).name]
