"""Invoices: publish, change status, mark overdue, and the PDF customers download."""

import datetime

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.permissions import VIEW_BILLING, may
from audit.services import record
from billing import formatting
from billing.models import Invoice, Status
from common.mail import portal_url, queue_templated_email

# Where an invoice may go from each status (support changes it in the admin). Issuing happens
# only through publish(); a void invoice stays void (issue a new one instead).
ALLOWED_CHANGES: dict[str, set[str]] = {
    Status.DRAFT: {Status.VOID},
    Status.ISSUED: {Status.PAID, Status.OVERDUE, Status.VOID},
    Status.OVERDUE: {Status.ISSUED, Status.PAID, Status.VOID},
    Status.PAID: {Status.ISSUED, Status.OVERDUE, Status.VOID},
    Status.VOID: set(),
}


def _invoice_pdf(invoice: Invoice) -> bytes:
    # fpdf and its fonts weigh ~30 MiB: loaded by the process that draws a PDF, not by every one.
    from billing.pdf import render_invoice_pdf

    return render_invoice_pdf(invoice)


def billing_viewers(invoice: Invoice) -> list[User]:
    """The organisation's active users who may see invoices (admins, and users granted it)."""
    users = invoice.organisation.users.filter(is_active=True).order_by("email")
    return [user for user in users if may(user, VIEW_BILLING)]


def publish(*, invoice: Invoice, acting_user: User | None) -> Invoice:
    """Issue a draft: customers see it from now on, and those who view billing get an email."""
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().select_related("organisation").get(pk=invoice.pk)
        if locked.status != Status.DRAFT:
            raise ValidationError(f"Invoice {locked.number} is already {locked.get_status_display().lower()}.")
        if not locked.lines.exists():
            raise ValidationError(f"Invoice {locked.number} has no lines: add at least one before publishing.")
        locked.status = Status.ISSUED
        locked.published_at = timezone.now()
        locked.save(update_fields=["status", "published_at", "updated_at"])
        record(
            action="invoice.published",
            actor=acting_user,
            organisation=locked.organisation,
            target=str(locked),
            total=str(locked.totals.total),
            currency=locked.currency,
        )
        _notify_published(locked)
    invoice.status, invoice.published_at = locked.status, locked.published_at
    return locked


def _notify_published(invoice: Invoice) -> None:
    recipients = billing_viewers(invoice)
    if not recipients:
        return
    queue_templated_email(
        template="billing/email/published",
        subject=f"New invoice {invoice.number} for {invoice.organisation.name}",
        context={
            "invoice": invoice,
            "organisation": invoice.organisation,
            "total": formatting.money(invoice.totals.total),
            "url": portal_url(reverse("billing-detail", args=[invoice.pk])),
        },
        to=[user.email for user in recipients],  # one message each: nobody sees the others' addresses
    )


def check_status_change(*, invoice: Invoice, status: str) -> None:
    """Raise ValidationError, worded for support, unless the invoice may move to ``status``."""
    current = invoice.status
    if status == current:
        return
    if status == Status.ISSUED and current == Status.DRAFT:
        raise ValidationError(
            "Use the “Publish” action to issue a draft: it shows the invoice and emails the customer."
        )
    if status == Status.DRAFT:
        raise ValidationError("A published invoice cannot go back to draft. Void it and issue a new one instead.")
    if status not in ALLOWED_CHANGES[current]:
        raise ValidationError(
            f"A {invoice.get_status_display().lower()} invoice cannot become {Status(status).label.lower()}."
        )


def change_status(*, invoice: Invoice, status: str, acting_user: User | None) -> Invoice:
    check_status_change(invoice=invoice, status=status)
    if status == invoice.status:
        return invoice
    previous = invoice.status
    invoice.status = status
    invoice.save(update_fields=["status", "updated_at"])
    record(
        action="invoice.status_changed",
        actor=acting_user,
        organisation=invoice.organisation,
        target=str(invoice),
        previous=previous,
        status=status,
    )
    return invoice


def mark_overdue(*, today: datetime.date | None = None) -> int:
    """Issued invoices whose due date has passed become overdue; returns how many. Safe to rerun."""
    today = today or timezone.localdate()
    return Invoice.objects.filter(status=Status.ISSUED, due_date__lt=today).update(
        status=Status.OVERDUE, updated_at=timezone.now()
    )


def invoice_pdf(invoice: Invoice) -> File:
    """The PDF customers get: the one support attached, else one drawn from the invoice data.

    A published invoice's data no longer changes, so its generated PDF is stored and reused; a
    draft's (support previewing it) is drawn each time and not kept.
    """
    if invoice.pdf:
        return invoice.pdf
    if not invoice.is_published:
        return ContentFile(_invoice_pdf(invoice), name=f"{invoice.number}.pdf")
    if _stored(invoice.generated_pdf):
        return invoice.generated_pdf
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().select_related("organisation").get(pk=invoice.pk)
        if _stored(locked.generated_pdf):  # another request drew it meanwhile
            invoice.generated_pdf = locked.generated_pdf
            return locked.generated_pdf
        content = _invoice_pdf(locked)
        locked.generated_pdf.save("invoice.pdf", ContentFile(content), save=False)
        try:
            locked.save(update_fields=["generated_pdf"])
        except Exception:
            locked.generated_pdf.delete(save=False)
            raise
    invoice.generated_pdf = locked.generated_pdf
    return locked.generated_pdf


def _stored(document: FieldFile) -> bool:
    """Whether the kept PDF is really there (a lost object is drawn again rather than failing)."""
    if not document.name:
        return False
    return document.storage.exists(document.name)


def download_name(invoice: Invoice) -> str:
    """A file name safe in any browser and file system: the number's letters, digits and dashes."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "-" for ch in invoice.number)
    return f"invoice-{safe.strip('-.') or invoice.pk}.pdf"
