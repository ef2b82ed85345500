"""Support sees every organisation's files, downloads them and marks compliance documents reviewed.

Token extracts are not among them: the portal tells customers that only their organisation's
admins see an extract (it holds their vault tokens). Support follows an extract's status on the
extracts page of the admin (extracts/admin.py), which never links to its file.
"""

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.types import acting_user
from common.admin import ReadOnlyModelAdmin
from common.dates import shown
from files import downloads, services
from files.models import EXPIRY_WARNING_DAYS, Section, StoredFile


class ReviewFilter(admin.SimpleListFilter):
    title = "review"
    parameter_name = "review"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "Pending review"), ("reviewed", "Reviewed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[StoredFile]) -> QuerySet[StoredFile]:
        if self.value() == "pending":
            return queryset.filter(section=Section.COMPLIANCE, reviewed_at__isnull=True)
        if self.value() == "reviewed":
            return queryset.filter(reviewed_at__isnull=False)
        return queryset


class SectionFilter(admin.SimpleListFilter):
    title = "section"
    parameter_name = "section__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, str(label)) for value, label in Section.choices if value != Section.EXTRACTS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[StoredFile]) -> QuerySet[StoredFile]:
        return queryset.filter(section=self.value()) if self.value() else queryset


class ExpiryFilter(admin.SimpleListFilter):
    title = "document expiry"
    parameter_name = "expiry"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("expired", "Expired"),
            ("expiring", f"Expiring within {EXPIRY_WARNING_DAYS} days"),
            ("dated", "Has an expiry date"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[StoredFile]) -> QuerySet[StoredFile]:
        today = timezone.localdate()
        if self.value() == "expired":
            return queryset.filter(expires_on__lte=today)
        if self.value() == "expiring":
            return queryset.filter(expires_on__gt=today, expires_on__lte=today + timedelta(days=EXPIRY_WARNING_DAYS))
        if self.value() == "dated":
            return queryset.filter(expires_on__isnull=False)
        return queryset


class DocumentExpiryForm(forms.ModelForm):
    class Meta:
        model = StoredFile
        fields = ["document_type", "expires_on"]
        widgets = {"expires_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}


@admin.register(StoredFile)
class StoredFileAdmin(ReadOnlyModelAdmin):
    list_display = [
        "name",
        "organisation",
        "section",
        "size_shown",
        "uploaded_by",
        "uploaded_at",
        "review",
        "document_type",
        "expires_on",
        "expiry",
        "download",
    ]
    list_filter = [SectionFilter, ReviewFilter, ExpiryFilter, ("organisation", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "organisation__name", "uploaded_by__email", "sha256"]
    list_select_related = ["organisation", "uploaded_by", "reviewed_by"]
    fields = readonly_fields = (
        "organisation",
        "section",
        "name",
        "size_shown",
        "content_type",
        "sha256",
        "uploaded_by",
        "uploaded_at",
        "review",
        "document_type",
        "expires_on",
        "expiry",
        "download",
    )
    actions = ["mark_reviewed"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[StoredFile]:
        return super().get_queryset(request).exclude(section=Section.EXTRACTS)

    # Files come from customers and extracts only; the stored object and the audit trail go
    # with every change, so support reads and reviews here but does not edit or delete. The one
    # thing support sets is a compliance document's type and expiry date, on its own page
    # (expiry_view), written through files.services and audited.
    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("files.change_storedfile")

    @admin.display(description="Size", ordering="size")
    def size_shown(self, obj: StoredFile) -> str:
        return filesizeformat(obj.size)

    @admin.display(description="Review")
    def review(self, obj: StoredFile) -> str:
        if obj.section != Section.COMPLIANCE:
            return "—"
        if obj.reviewed_at is None:
            return "Pending"
        who = obj.reviewed_by.full_name or obj.reviewed_by.email if obj.reviewed_by else "support"
        return f"Reviewed by {who}, {shown(obj.reviewed_at)}"

    @admin.display(description="Expiry")
    def expiry(self, obj: StoredFile) -> str:
        if obj.section != Section.COMPLIANCE:
            return "—"
        label = "Change type or expiry" if obj.expires_on or obj.document_type else "Set type and expiry"
        return format_html('<a href="{}">{}</a>', reverse("admin:files_storedfile_expiry", args=[obj.pk]), label)

    @admin.display(description="Download")
    def download(self, obj: StoredFile) -> str:
        return format_html('<a href="{}">Download</a>', reverse("admin:files_storedfile_download", args=[obj.pk]))

    @admin.action(description="Mark selected compliance documents reviewed", permissions=["review"])
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[StoredFile]) -> None:
        compliance = queryset.filter(section=Section.COMPLIANCE).select_related("organisation")
        done = 0
        for stored in compliance:
            services.review(stored=stored, acting_user=acting_user(request))
            done += 1
        skipped = queryset.count() - done
        text = f"{done} compliance document(s) marked reviewed."
        if skipped:
            text += f" {skipped} file(s) skipped: only compliance documents are reviewed."
        self.message_user(request, text, messages.SUCCESS if done else messages.WARNING)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:file_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="files_storedfile_download",
            ),
            path(
                "<int:file_id>/expiry/",
                self.admin_site.admin_view(self.expiry_view),
                name="files_storedfile_expiry",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, file_id: int) -> HttpResponseBase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        stored = get_object_or_404(self.get_queryset(request).select_related("organisation"), pk=file_id)
        return downloads.stored_file_download(stored, acting_user=acting_user(request))

    def expiry_view(self, request: HttpRequest, file_id: int) -> HttpResponse:
        if not self.has_review_permission(request):
            raise PermissionDenied
        stored = get_object_or_404(
            self.get_queryset(request).select_related("organisation"), pk=file_id, section=Section.COMPLIANCE
        )
        form = DocumentExpiryForm(request.POST or None, instance=stored)
        if form.is_bound and form.is_valid():
            services.set_document_expiry(
                stored=stored,
                document_type=form.cleaned_data["document_type"],
                expires_on=form.cleaned_data["expires_on"],
                acting_user=acting_user(request),
            )
            self.message_user(request, f"Document type and expiry of {stored.name} saved.")
            return redirect("admin:files_storedfile_change", stored.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Type and expiry of {stored.name} ({stored.organisation.name})",
            "form": form,
            "opts": self.model._meta,
            "file": stored,
        }
        return TemplateResponse(request, "admin/files/document_expiry.html", context)
