"""The Billing pages: admins and users allowed to view billing read their organisation's invoices."""

from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import FileResponse, HttpResponse
from django.shortcuts import render

from accounts.permissions import VIEW_BILLING, requires
from accounts.types import AuthenticatedRequest
from billing import selectors, services
from billing.forms import InvoiceFilterForm
from files.downloads import audited_attachment

PAGE_SIZE = 24
# VIEW_BILLING is checked before the invoice is looked up: without it every billing URL is a 403.


@requires(VIEW_BILLING)
def invoice_list(request: AuthenticatedRequest) -> HttpResponse:
    invoices = selectors.invoices_for(user=request.user)
    form = InvoiceFilterForm(request.GET or None, years=selectors.invoice_years(user=request.user))
    query = ""
    if form.is_bound and form.is_valid():
        if form.cleaned_data["year"]:
            invoices = invoices.filter(issue_date__year=form.cleaned_data["year"])
        if form.cleaned_data["status"]:
            invoices = invoices.filter(status=form.cleaned_data["status"])
        query = urlencode({key: value for key, value in form.cleaned_data.items() if value})
    page = Paginator(invoices, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "invoices": page.object_list, "query": query}
    return render(request, "billing/list.html", context)


@requires(VIEW_BILLING)
def invoice_detail(request: AuthenticatedRequest, invoice_id: int) -> HttpResponse:
    invoice = selectors.access_invoice(user=request.user, invoice_id=invoice_id)
    return render(request, "billing/detail.html", {"invoice": invoice})


@requires(VIEW_BILLING)
def invoice_pdf(request: AuthenticatedRequest, invoice_id: int) -> FileResponse:
    invoice = selectors.access_invoice(user=request.user, invoice_id=invoice_id)
    document = services.invoice_pdf(invoice)
    return audited_attachment(
        document.open("rb"),
        filename=services.download_name(invoice),
        content_type="application/pdf",
        acting_user=request.user,
        organisation=invoice.organisation,
        target=f"{invoice} (PDF)",
    )
