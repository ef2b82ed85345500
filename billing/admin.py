"""Support/finance issue invoices here: lines inline, totals computed, PDF attached or generated.

A published invoice is a document the customer holds: its lines and amounts are read-only from
then on; only its status (paid, overdue, void) and the attached PDF still change.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from accounts.types import acting_user
from audit.services import record
from billing import formatting, services
from billing.forms import check_attached_pdf
from billing.models import Invoice, InvoiceLine, Status
from common.downloads import attachment_response
from files.forms import with_upload_refusal

# Fields that make up the document; frozen once it is published.
DOCUMENT_FIELDS = [
    "organisation",
    "number",
    "issue_date",
    "due_date",
    "period_start",
    "period_end",
    "currency",
    "tax_rate",
    "notes",
]


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    fields = ["position", "description", "quantity", "unit_price", "amount"]
    readonly_fields = ["amount"]

    def get_extra(self, request: HttpRequest, obj: Invoice | None = None, **kwargs: Any) -> int:
        return 3 if obj is None else (0 if obj.is_published else 1)

    def _editable(self, obj: Invoice | None) -> bool:
        return obj is None or not obj.is_published

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)

    @admin.display(description="amount")
    def amount(self, line: InvoiceLine) -> str:
        return formatting.money(line.amount) if line.pk else "—"


class InvoiceAdminForm(forms.ModelForm):
    class Meta:
        model = Invoice
        fields = [*DOCUMENT_FIELDS, "status", "pdf"]

    def clean_pdf(self) -> Any:
        upload = self.cleaned_data.get("pdf")
        if isinstance(upload, UploadedFile):
            check_attached_pdf(upload)
        return upload

    def clean_status(self) -> str:
        status = self.cleaned_data["status"]
        services.check_status_change(invoice=self.instance, status=status)
        return status


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    form = InvoiceAdminForm
    inlines = [InvoiceLineInline]
    list_display = ["number", "organisation", "issue_date", "due_date", "total", "status", "published_at"]
    list_filter = ["status", "currency", "issue_date"]
    search_fields = ["number", "organisation__name"]
    list_select_related = ["organisation"]
    date_hierarchy = "issue_date"
    actions = ["publish_selected", "mark_paid"]
    fieldsets = [
        (None, {"fields": ["organisation", "number", "status"]}),
        ("Dates", {"fields": ["issue_date", "due_date", "period_start", "period_end"]}),
        ("Amounts", {"fields": ["currency", "tax_rate", "subtotal", "tax", "total"]}),
        ("Document", {"fields": ["pdf", "document", "notes", "published_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invoice]:
        return super().get_queryset(request).prefetch_related("lines")

    def get_form(self, request: HttpRequest, obj: Invoice | None = None, change: bool = False, **kwargs: Any) -> Any:
        return with_upload_refusal(super().get_form(request, obj, change=change, **kwargs), request, "pdf")

    def get_readonly_fields(self, request: HttpRequest, obj: Invoice | None = None) -> Any:
        computed = ["subtotal", "tax", "total", "document", "published_at"]
        return [*DOCUMENT_FIELDS, *computed] if obj is not None and obj.is_published else computed

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # published invoices are never deleted; drafts one by one
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return (obj is None or not obj.is_published) and super().has_delete_permission(request, obj)

    @admin.display(description="subtotal")
    def subtotal(self, invoice: Invoice) -> str:
        return f"{invoice.currency} {formatting.money(invoice.totals.subtotal)}" if invoice.pk else "—"

    @admin.display(description="tax")
    def tax(self, invoice: Invoice) -> str:
        return f"{invoice.currency} {formatting.money(invoice.totals.tax)}" if invoice.pk else "—"

    @admin.display(description="total")
    def total(self, invoice: Invoice) -> str:
        return f"{invoice.currency} {formatting.money(invoice.totals.total)}" if invoice.pk else "—"

    @admin.display(description="PDF customers get")
    def document(self, invoice: Invoice) -> str:
        if not invoice.pk:
            return "—"
        what = "the attached PDF" if invoice.pdf else "generated from this invoice"
        url = reverse("admin:billing_invoice_pdf", args=[invoice.pk])
        return format_html('<a href="{}">Download</a> ({})', url, what)

    def get_urls(self) -> list[URLPattern]:
        preview = path("<int:invoice_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_invoice_pdf")
        return [preview, *super().get_urls()]

    def pdf_view(self, request: HttpRequest, invoice_id: int) -> FileResponse:
        invoice = get_object_or_404(self.get_queryset(request).select_related("organisation"), pk=invoice_id)
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        document = services.invoice_pdf(invoice)
        return attachment_response(
            document.open("rb"), filename=services.download_name(invoice), content_type="application/pdf"
        )

    def save_model(self, request: HttpRequest, obj: Invoice, form: Any, change: bool) -> None:
        new_status = obj.status
        if change and "status" in form.changed_data:
            obj.status = form.initial["status"]  # changed below, through the service that audits it
        replaced = form.initial.get("pdf") if change and "pdf" in form.changed_data else None
        super().save_model(request, obj, form, change)
        if new_status != obj.status:
            services.change_status(invoice=obj, status=new_status, acting_user=acting_user(request))
        if "pdf" in form.changed_data and obj.pdf:
            record(
                action="file.uploaded", actor=acting_user(request), organisation=obj.organisation, target=f"{obj} (PDF)"
            )
        if replaced:
            name, storage = replaced.name, replaced.storage
            transaction.on_commit(lambda: storage.delete(name))

    def delete_model(self, request: HttpRequest, obj: Invoice) -> None:
        files = [f for f in (obj.pdf, obj.generated_pdf) if f]
        super().delete_model(request, obj)
        for stored in files:
            name, storage = stored.name, stored.storage
            transaction.on_commit(lambda name=name, storage=storage: storage.delete(name))  # type: ignore[misc]

    @admin.action(description="Publish the selected drafts (emails the customers)", permissions=["change"])
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        published = 0
        for invoice in queryset.select_related("organisation"):
            try:
                services.publish(invoice=invoice, acting_user=acting_user(request))
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                published += 1
        if published:
            self.message_user(
                request,
                f"Published {published} invoice{'s' if published != 1 else ''}; "
                "everyone who can view billing in those organisations gets an email.",
                messages.SUCCESS,
            )

    @admin.action(description="Mark the selected invoices paid", permissions=["change"])
    def mark_paid(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        changed = 0
        for invoice in queryset.select_related("organisation"):
            try:
                services.change_status(invoice=invoice, status=Status.PAID, acting_user=acting_user(request))
            except ValidationError as exc:
                self.message_user(request, f"{invoice}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                changed += 1
        if changed:
            self.message_user(request, f"Marked {changed} invoice{'s' if changed != 1 else ''} paid.", messages.SUCCESS)
