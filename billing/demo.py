"""Monthly invoices for the demo organisation (seed_demo): January 2020 to last month, added once."""

import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Organisation
from billing.models import Invoice, InvoiceLine, Status

FIRST_MONTH = datetime.date(2020, 1, 1)
PAYMENT_TERMS_DAYS = 30
DEMO_TAX_RATE = Decimal("20.00")


def _months(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = (month + datetime.timedelta(days=32)).replace(day=1)
    return months


def demo_number(month: datetime.date) -> str:
    return f"INV-{month:%Y-%m}"


def _lines(invoice: Invoice, month: datetime.date, index: int) -> list[InvoiceLine]:
    # Usage grows month by month, with a wobble; plain arithmetic keeps re-runs identical.
    calls = 600_000 + index * 15_000 + (index * 7_919) % 90_000
    storage = Decimal("8") + Decimal(index) * Decimal("0.375")
    return [
        InvoiceLine(
            invoice=invoice,
            position=1,
            description=f"Platform subscription, {month:%B %Y}",
            quantity=Decimal("1"),
            unit_price=Decimal("490.00"),
        ),
        InvoiceLine(
            invoice=invoice,
            position=2,
            description="Tokenization API calls",
            quantity=Decimal(calls),
            unit_price=Decimal("0.0004"),
        ),
        InvoiceLine(
            invoice=invoice,
            position=3,
            description="Vault storage (GB-months)",
            quantity=storage,
            unit_price=Decimal("0.85"),
        ),
    ]


@transaction.atomic
def seed_demo_invoices(organisation: Organisation, *, today: datetime.date | None = None) -> int:
    """Create the missing monthly invoices (all paid but the latest, issued); returns how many.

    Runs on every `make run`: only the months that passed are added.
    """
    today = today or timezone.localdate()
    last_month = (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
    months = _months(FIRST_MONTH, last_month)
    if not months:
        return 0
    existing = set(Invoice.objects.filter(organisation=organisation).values_list("number", flat=True))
    latest = demo_number(months[-1])
    lines: list[InvoiceLine] = []
    created = 0
    for index, month in enumerate(months):
        number = demo_number(month)
        if number in existing:
            continue
        period_end = (month + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
        issue_date = period_end + datetime.timedelta(days=1)
        invoice = Invoice.objects.create(
            organisation=organisation,
            number=number,
            issue_date=issue_date,
            due_date=issue_date + datetime.timedelta(days=PAYMENT_TERMS_DAYS),
            period_start=month,
            period_end=period_end,
            tax_rate=DEMO_TAX_RATE,
            status=Status.ISSUED if number == latest else Status.PAID,
            published_at=timezone.make_aware(datetime.datetime.combine(issue_date, datetime.time(9, 0))),
        )
        lines.extend(_lines(invoice, month, index))
        created += 1
    InvoiceLine.objects.bulk_create(lines)
    # A new month came: the invoice that was the latest has been paid since, unless support changed
    # it (voided it, say). Older ones stay as support left them.
    older = {demo_number(month) for month in months[:-1]}
    previous = max(existing & older, default=None)
    if created and previous is not None:
        Invoice.objects.filter(
            organisation=organisation, number=previous, status__in=[Status.ISSUED, Status.OVERDUE]
        ).update(status=Status.PAID, updated_at=timezone.now())
    return created
