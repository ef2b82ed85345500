"""Reads of invoices for the portal: published ones of the user's organisation only."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from billing.models import Invoice, Status


def invoices_for(*, user: User) -> QuerySet[Invoice]:
    """Published invoices of the user's organisation, newest first, lines loaded for the totals."""
    if user.organisation_id is None:
        return Invoice.objects.none()
    return (
        Invoice.objects.filter(organisation_id=user.organisation_id, published_at__isnull=False)
        .exclude(status=Status.DRAFT)
        .prefetch_related("lines")
        .order_by("-issue_date", "-id")
    )


def access_invoice(*, user: User, invoice_id: int) -> Invoice:
    """A published invoice of the user's organisation, or 404 (whoever really owns the id)."""
    invoice = invoices_for(user=user).select_related("organisation").filter(pk=invoice_id).first()
    if invoice is None:
        raise Http404
    return invoice


def invoice_years(*, user: User) -> list[int]:
    """The years the organisation has invoices in, newest first, for the year filter."""
    dates = invoices_for(user=user).prefetch_related(None).order_by().dates("issue_date", "year", order="DESC")
    return [day.year for day in dates]
