"""Invoice amounts are exact decimals, and invoices that make no sense are refused with a reason."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from billing.models import Invoice, InvoiceLine, Status
from tests.billing.helpers import make_invoice
from tests.factories import OrganisationFactory


def _errors(obj: Invoice | InvoiceLine) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        obj.full_clean()
    return caught.value.message_dict


def _draft(organisation, **fields) -> Invoice:
    values = {
        "organisation": organisation,
        "number": "INV-1",
        "issue_date": datetime.date(2025, 3, 1),
        "due_date": datetime.date(2025, 3, 31),
        "period_start": datetime.date(2025, 2, 1),
        "period_end": datetime.date(2025, 2, 28),
        **fields,
    }
    return Invoice(**values)


# --- Totals ---------------------------------------------------------------------------------------


def test_line_amount_rounds_half_up_to_the_cent(organisation):
    # 5 x 0.005 = 0.025: half-up gives 0.03 (banker's rounding, or a float, would give 0.02).
    invoice = make_invoice(organisation, lines=[("Lookups", "5", "0.005")])

    line = invoice.lines.get()

    assert line.amount == Decimal("0.03")
    assert isinstance(line.amount, Decimal)


def test_totals_add_rounded_lines_and_round_tax_once(organisation):
    invoice = make_invoice(
        organisation,
        tax_rate=Decimal("20"),
        lines=[
            ("Support hours", "1.5", "10.0050"),  # 15.0075 -> 15.01
            ("Lookups", "2", "0.0125"),  # 0.025 -> 0.03
            ("Tokenization API calls", "1234567", "0.0004"),  # 493.8268 -> 493.83
        ],
    )

    totals = Invoice.objects.get(pk=invoice.pk).totals

    assert totals.subtotal == Decimal("508.87")
    assert totals.tax == Decimal("101.77")  # 101.774
    assert totals.total == Decimal("610.64")
    assert all(isinstance(value, Decimal) for value in (totals.subtotal, totals.tax, totals.total))


def test_tax_rounds_half_up(organisation):
    invoice = make_invoice(organisation, tax_rate=Decimal("10"), lines=[("Lookup", "1", "0.25")])

    assert invoice.totals.tax == Decimal("0.03")  # 0.025
    assert invoice.totals.total == Decimal("0.28")


def test_fractional_quantities_keep_their_precision(organisation):
    invoice = make_invoice(organisation, lines=[("Vault storage (GB-months)", "12.375", "0.85")])

    line = InvoiceLine.objects.get(invoice=invoice)

    assert line.quantity == Decimal("12.375")
    assert line.amount == Decimal("10.52")  # 10.51875


def test_invoice_without_lines_totals_zero(organisation):
    invoice = make_invoice(organisation, lines=[], tax_rate=Decimal("20"))

    assert invoice.totals.total == Decimal("0.00")


# --- Validation -----------------------------------------------------------------------------------


def test_due_date_before_issue_date_is_refused(organisation):
    errors = _errors(_draft(organisation, due_date=datetime.date(2025, 2, 27)))

    assert errors == {"due_date": ["The due date cannot be before the issue date."]}


def test_period_ending_before_it_starts_is_refused(organisation):
    errors = _errors(_draft(organisation, period_end=datetime.date(2025, 1, 31)))

    assert errors == {"period_end": ["The service period cannot end before it starts."]}


@pytest.mark.parametrize("code", ["EURO", "E1R", "€", ""])
def test_currency_must_be_three_letters(organisation, code):
    errors = _errors(_draft(organisation, currency=code))

    assert "currency" in errors
    if code:
        assert "Enter a three-letter ISO 4217 currency code, such as EUR, GBP or USD." in errors["currency"]


def test_currency_is_upper_cased_and_defaults_to_the_setting(organisation, settings):
    invoice = _draft(organisation, currency="gbp")
    invoice.full_clean()
    assert invoice.currency == "GBP"

    settings.BILLING_CURRENCY_DEFAULT = "CHF"
    assert _draft(organisation).currency == "CHF"


def test_tax_rate_must_be_a_percentage(organisation):
    errors = _errors(_draft(organisation, tax_rate=Decimal("120")))

    assert errors == {"tax_rate": ["The tax rate is a percentage between 0 and 100."]}


def test_draft_cannot_be_marked_issued_without_publishing(organisation):
    errors = _errors(_draft(organisation, status=Status.ISSUED))

    assert errors["status"] == ["Publish the invoice to issue it: publishing shows it to the customer and emails them."]


def test_number_is_unique_within_an_organisation_only(organisation):
    make_invoice(organisation, number="INV-7")

    errors = _errors(_draft(organisation, number="INV-7"))
    assert errors == {"__all__": ["This organisation already has an invoice with this number."]}

    _draft(OrganisationFactory(), number="INV-7").full_clean()  # another organisation may reuse it


@pytest.mark.parametrize("quantity", ["0", "-1"])
def test_line_quantity_must_be_positive(organisation, quantity):
    invoice = make_invoice(organisation, lines=[])
    line = InvoiceLine(invoice=invoice, description="Calls", quantity=Decimal(quantity), unit_price=Decimal("1"))

    assert _errors(line) == {"quantity": ["The quantity must be more than zero."]}


def test_line_price_cannot_be_negative(organisation):
    invoice = make_invoice(organisation, lines=[])
    line = InvoiceLine(invoice=invoice, description="Credit", quantity=Decimal("1"), unit_price=Decimal("-5"))

    assert _errors(line) == {"unit_price": ["The unit price cannot be negative."]}


# --- The database holds the same rules (a bulk update or a script cannot bypass them) ------------


@pytest.mark.parametrize(
    "changes",
    [
        {"due_date": datetime.date(2025, 1, 1)},
        {"period_end": datetime.date(2024, 1, 1)},
        {"tax_rate": Decimal("-1")},
        {"status": Status.DRAFT},  # published invoices never go back to draft
    ],
)
def test_database_refuses_inconsistent_invoices(organisation, changes):
    invoice = make_invoice(organisation)

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(**changes)


def test_database_refuses_issued_invoice_that_was_never_published(organisation):
    invoice = make_invoice(organisation, status=Status.DRAFT)

    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(status=Status.PAID)


@pytest.mark.parametrize(("quantity", "price"), [("0", "1"), ("1", "-0.01")])
def test_database_refuses_bad_lines(organisation, quantity, price):
    invoice = make_invoice(organisation)

    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.create(
            invoice=invoice, description="Bad", quantity=Decimal(quantity), unit_price=Decimal(price)
        )
