"""Invoices issued by support/finance; customers see them once published (SPEC §6).

Amounts are ``Decimal`` throughout: each line's amount is rounded half-up to the cent, the
subtotal is the sum of the rounded lines (so the page adds up), and tax is rounded once on it.
"""

import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from files.storage import get_private_storage

CENT = Decimal("0.01")
CURRENCY_MESSAGE = "Enter a three-letter ISO 4217 currency code, such as EUR, GBP or USD."
DUE_BEFORE_ISSUE = "The due date cannot be before the issue date."
PERIOD_ENDS_BEFORE_START = "The service period cannot end before it starts."
QUANTITY_NOT_POSITIVE = "The quantity must be more than zero."
PRICE_NEGATIVE = "The unit price cannot be negative."
TAX_RATE_RANGE = "The tax rate is a percentage between 0 and 100."
ISSUE_THROUGH_PUBLISH = "Publish the invoice to issue it: publishing shows it to the customer and emails them."


def default_currency() -> str:
    return str(settings.BILLING_CURRENCY_DEFAULT)


def invoice_pdf_path(instance: Any, filename: str) -> str:
    # A random name: the invoice number may hold characters a file system or S3 key dislikes,
    # and the stored name says nothing about whose invoice it is.
    return f"invoices/{uuid.uuid4().hex}.pdf"


def round_money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def positive(value: Decimal) -> None:
    if value is not None and value <= 0:
        raise ValidationError(QUANTITY_NOT_POSITIVE, code="min_value")


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    ISSUED = "issued", "Issued"
    PAID = "paid", "Paid"
    OVERDUE = "overdue", "Overdue"
    VOID = "void", "Void"


# Statuses an invoice can hold without having been published (customers never see these).
UNPUBLISHED_STATUSES = (Status.DRAFT, Status.VOID)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    tax: Decimal
    total: Decimal


class Invoice(models.Model):
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=40, help_text="Unique within the organisation, e.g. INV-2025-001.")
    issue_date = models.DateField()
    due_date = models.DateField()
    period_start = models.DateField("service period from")
    period_end = models.DateField("service period to")
    currency = models.CharField(
        max_length=3,
        default=default_currency,
        validators=[RegexValidator(r"^[A-Za-z]{3}\Z", CURRENCY_MESSAGE)],  # upper-cased by clean()
        help_text="ISO 4217 code.",
    )
    tax_rate = models.DecimalField(
        "tax rate (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0, TAX_RATE_RANGE), MaxValueValidator(100, TAX_RATE_RANGE)],
        help_text="VAT or sales tax in percent, applied to the subtotal; 0 when none is due.",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    pdf = models.FileField(
        "attached PDF",
        upload_to=invoice_pdf_path,
        storage=get_private_storage,
        max_length=300,
        blank=True,
        help_text="Optional: customers get this file. Without one, the portal generates the PDF from this invoice.",
    )
    # The PDF generated from a published invoice's data, kept so it is drawn once.
    generated_pdf = models.FileField(
        upload_to=invoice_pdf_path, storage=get_private_storage, max_length=300, blank=True, editable=False
    )
    notes = models.TextField(blank=True, max_length=2000, help_text="Shown to the customer and printed on the PDF.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-issue_date", "-id"]
        indexes = [models.Index(fields=["organisation", "-issue_date"])]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "number"],
                name="invoice_number_unique_per_organisation",
                violation_error_message="This organisation already has an invoice with this number.",
            ),
            models.CheckConstraint(
                condition=models.Q(due_date__gte=models.F("issue_date")),
                name="invoice_due_not_before_issue",
                violation_error_message=DUE_BEFORE_ISSUE,
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="invoice_period_ordered",
                violation_error_message=PERIOD_ENDS_BEFORE_START,
            ),
            models.CheckConstraint(
                condition=models.Q(tax_rate__gte=0, tax_rate__lte=100),
                name="invoice_tax_rate_percent",
                violation_error_message=TAX_RATE_RANGE,
            ),
            # Only publishing issues an invoice, and a published invoice never goes back to draft.
            models.CheckConstraint(
                condition=models.Q(published_at__isnull=True, status__in=UNPUBLISHED_STATUSES)
                | (models.Q(published_at__isnull=False) & ~models.Q(status=Status.DRAFT)),
                name="invoice_status_matches_publication",
                violation_error_message=ISSUE_THROUGH_PUBLISH,
            ),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.number}"

    def clean(self) -> None:
        super().clean()
        self.currency = (self.currency or "").strip().upper()
        errors: dict[str, str] = {}
        if self.issue_date and self.due_date and self.due_date < self.issue_date:
            errors["due_date"] = DUE_BEFORE_ISSUE
        if self.period_start and self.period_end and self.period_end < self.period_start:
            errors["period_end"] = PERIOD_ENDS_BEFORE_START
        if self.published_at is None and self.status not in UNPUBLISHED_STATUSES:
            errors["status"] = ISSUE_THROUGH_PUBLISH
        if errors:
            raise ValidationError(errors)

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    @cached_property
    def totals(self) -> Totals:
        """From the lines as loaded (prefetch them for lists); cached per instance."""
        subtotal = sum((line.amount for line in self.lines.all()), Decimal("0.00"))
        tax = round_money(subtotal * self.tax_rate / 100)
        return Totals(subtotal=subtotal, tax=tax, total=subtotal + tax)


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=15, decimal_places=3, validators=[positive])
    unit_price = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        validators=[MinValueValidator(0, PRICE_NEGATIVE)],
        help_text="Up to four decimals, for per-call prices.",
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Lines are listed in this order.")

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0),
                name="invoice_line_quantity_positive",
                violation_error_message=QUANTITY_NOT_POSITIVE,
            ),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0),
                name="invoice_line_price_not_negative",
                violation_error_message=PRICE_NEGATIVE,
            ),
        ]

    def __str__(self) -> str:
        return self.description

    @property
    def amount(self) -> Decimal:
        if self.quantity is None or self.unit_price is None:
            return Decimal("0.00")
        return round_money(self.quantity * self.unit_price)
