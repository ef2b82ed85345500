"""seed_demo's invoices: one a month from January 2020 to last month, added once."""

import datetime
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Organisation
from billing.demo import seed_demo_invoices
from billing.models import Invoice, Status


def test_monthly_invoices_from_january_2020_to_last_month(organisation):
    created = seed_demo_invoices(organisation, today=datetime.date(2025, 3, 15))

    invoices = list(Invoice.objects.filter(organisation=organisation).order_by("issue_date"))
    assert created == len(invoices) == 62  # January 2020 to February 2025
    first, latest = invoices[0], invoices[-1]
    assert (first.number, first.period_start, first.period_end) == (
        "INV-2020-01",
        datetime.date(2020, 1, 1),
        datetime.date(2020, 1, 31),
    )
    assert (latest.number, latest.period_start, latest.period_end, latest.status) == (
        "INV-2025-02",
        datetime.date(2025, 2, 1),
        datetime.date(2025, 2, 28),
        Status.ISSUED,
    )
    assert {invoice.status for invoice in invoices[:-1]} == {Status.PAID}
    assert all(invoice.published_at is not None and invoice.lines.count() == 3 for invoice in invoices)
    assert all(invoice.due_date >= invoice.issue_date for invoice in invoices)


def test_seeding_again_adds_only_the_new_month(organisation):
    seed_demo_invoices(organisation, today=datetime.date(2025, 3, 15))
    assert seed_demo_invoices(organisation, today=datetime.date(2025, 3, 20)) == 0

    assert seed_demo_invoices(organisation, today=datetime.date(2025, 4, 2)) == 1

    assert Invoice.objects.count() == 63
    assert Invoice.objects.get(number="INV-2025-02").status == Status.PAID
    assert Invoice.objects.get(number="INV-2025-03").status == Status.ISSUED


def test_a_new_month_leaves_older_invoices_as_support_left_them(organisation):
    seed_demo_invoices(organisation, today=datetime.date(2025, 3, 15))
    Invoice.objects.filter(number="INV-2024-12").update(status=Status.VOID)
    Invoice.objects.filter(number="INV-2025-02").update(status=Status.VOID)

    seed_demo_invoices(organisation, today=datetime.date(2025, 4, 2))

    assert Invoice.objects.get(number="INV-2024-12").status == Status.VOID
    assert Invoice.objects.get(number="INV-2025-02").status == Status.VOID
    assert Invoice.objects.get(number="INV-2025-03").status == Status.ISSUED


@pytest.mark.django_db(databases=["default", "vault"])  # seed_demo also fills the demo vault
def test_seed_demo_command_gives_the_demo_organisation_its_invoices():
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())

    organisation = Organisation.objects.get(name="Acme Payments Ltd")
    numbers = list(Invoice.objects.filter(organisation=organisation).values_list("number", flat=True))
    assert "INV-2020-01" in numbers
    assert len(numbers) == len(set(numbers))
