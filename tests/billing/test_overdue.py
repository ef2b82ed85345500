"""The periodic task marks issued invoices past their due date overdue, and nothing else."""

import datetime

from django.conf import settings
from django.utils import timezone

from billing.models import Invoice, Status
from billing.tasks import mark_overdue_invoices
from portal.celery import app as celery_app
from tests.billing.helpers import make_invoice
from tests.factories import OrganisationFactory


def _due(days_from_today: int) -> dict[str, datetime.date]:
    due = timezone.localdate() + datetime.timedelta(days=days_from_today)
    return {"issue_date": due - datetime.timedelta(days=30), "due_date": due}


def _statuses() -> dict[str, str]:
    return dict(Invoice.objects.values_list("number", "status"))


def test_only_issued_invoices_past_their_due_date_become_overdue(organisation):
    make_invoice(organisation, number="LATE", **_due(-1))
    make_invoice(organisation, number="DUE-TODAY", **_due(0))
    make_invoice(organisation, number="NOT-YET", **_due(5))
    make_invoice(organisation, number="PAID-LATE", status=Status.PAID, **_due(-10))
    make_invoice(organisation, number="VOID-LATE", status=Status.VOID, **_due(-10))
    make_invoice(organisation, number="DRAFT-LATE", status=Status.DRAFT, **_due(-10))
    make_invoice(OrganisationFactory(), number="OTHER-ORG-LATE", **_due(-40))

    assert mark_overdue_invoices.delay().get() == 2

    assert _statuses() == {
        "LATE": Status.OVERDUE,
        "DUE-TODAY": Status.ISSUED,
        "NOT-YET": Status.ISSUED,
        "PAID-LATE": Status.PAID,
        "VOID-LATE": Status.VOID,
        "DRAFT-LATE": Status.DRAFT,
        "OTHER-ORG-LATE": Status.OVERDUE,
    }


def test_running_the_task_again_changes_nothing(organisation):
    make_invoice(organisation, number="LATE", **_due(-1))
    mark_overdue_invoices.delay()

    assert mark_overdue_invoices.delay().get() == 0
    assert _statuses() == {"LATE": Status.OVERDUE}


def test_customers_see_the_invoice_overdue(owner_client, organisation):
    invoice = make_invoice(organisation, number="LATE", **_due(-3))

    mark_overdue_invoices.delay()

    page = owner_client.get(f"/billing/{invoice.pk}/").content.decode()
    assert "Overdue" in page


def test_the_task_is_scheduled_with_celery_beat():
    [entry] = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "billing.tasks.mark_overdue_invoices"]

    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] <= 24 * 60 * 60
