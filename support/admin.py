"""Support works tickets here: reply, change status, assign; applies or rejects company-details
requests (the model is accounts', so the pages stay under /admin/accounts/); and manages the
Resources page."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import ChangeRequestStatus, CompanyDetailsChangeRequest
from accounts.types import acting_user
from support import services
from support.models import Attachment, Comment, ResourceLink, Status, Ticket


class CommentInline(admin.TabularInline):
    model = Comment
    fields = readonly_fields = ("created_at", "author", "from_support", "body")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AttachmentInline(admin.TabularInline):
    model = Attachment
    fields = readonly_fields = ("name", "size", "sha256", "uploaded_by", "uploaded_at")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TicketAdminForm(forms.ModelForm):
    reply = forms.CharField(
        label="Reply to the customer",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Sent by email to everyone included; the ticket then waits on the customer.",
    )

    class Meta:
        model = Ticket
        fields = ["organisation", "subject", "body", "category", "status", "assigned_to", "participants"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        organisation = self.cleaned_data.get("organisation")  # not on the form once the ticket exists
        organisation_id = organisation.pk if organisation else self.instance.organisation_id
        participants = self.cleaned_data.get("participants") or []
        if organisation_id:
            try:
                services.check_participants(participants, organisation_id=organisation_id, active_only=False)
            except ValidationError as exc:
                self.add_error("participants", exc)
        return self.cleaned_data


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    form = TicketAdminForm
    list_display = ["id", "subject", "organisation", "category", "status", "assigned_to", "updated_at"]
    list_filter = ["status", "category", "assigned_to"]
    search_fields = ["subject", "organisation__name", "opened_by__email"]
    list_select_related = ["organisation", "assigned_to"]
    filter_horizontal = ["participants"]
    inlines = [CommentInline, AttachmentInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["organisation", "subject", "body", "category", "failed_call"] if obj else []

    @admin.display(description="failed call")
    def failed_call(self, ticket: Ticket) -> str:
        """The error-log row the customer asked about, linked, while the error log keeps it."""
        if ticket.error_log_id is None:
            return "—"
        try:
            error = ticket.error_log
        except ObjectDoesNotExist:
            error = None
        if error is None:
            return f"Request {ticket.error_request_id}: no longer in the error log"
        url = reverse("admin:dashboard_errorlog_change", args=[ticket.error_log_id])
        return format_html(
            '<a href="{}">{} {} {} (request {})</a>', url, error.at, error.method, error.code, error.request_id
        )

    # Opening a ticket, changing its status and replying go through support.services, as in the
    # portal: audited, and those included are told.
    def save_model(self, request: HttpRequest, obj: Ticket, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            opened = services.open_ticket_for_customer(
                organisation=data["organisation"],
                subject=data["subject"],
                body=data["body"],
                category=data["category"],
                status=data["status"],
                assigned_to=data["assigned_to"],
                participants=data["participants"],
                acting_user=acting_user(request),
                notify=not data.get("reply", "").strip(),  # the reply tells them
            )
            obj.pk, obj.opened_by, obj.opened_by_support = opened.pk, opened.opened_by, opened.opened_by_support
            obj._state.adding = False
            return
        services.update_ticket_as_support(
            ticket=obj,
            status=Status(data["status"]),
            assigned_to=data["assigned_to"],
            participants=data["participants"],
            acting_user=acting_user(request),
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The participants are saved by the services (audited, the newly included told): only the inlines here.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)
        reply = form.cleaned_data.get("reply", "").strip()
        if reply:
            services.add_comment(ticket=form.instance, acting_user=acting_user(request), body=reply, from_support=True)


@admin.register(ResourceLink)
class ResourceLinkAdmin(admin.ModelAdmin):
    list_display = ["title", "group", "url", "position"]
    list_editable = ["position"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # Django 6's default
    list_filter = ["group"]


@admin.register(CompanyDetailsChangeRequest)
class CompanyDetailsChangeRequestAdmin(admin.ModelAdmin):
    list_display = ["organisation", "requested_by", "status", "created_at", "handled_by"]
    list_filter = ["status"]
    list_select_related = ["organisation", "requested_by", "handled_by"]
    readonly_fields = [
        "organisation",
        "requested_by",
        "name",
        "registration_number",
        "vat_number",
        "address",
        "country",
        "message",
        "status",
        "created_at",
        "handled_by",
        "handled_at",
    ]
    actions = ["apply_requests", "reject_requests"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Apply the requested changes to the organisation", permissions=["change"])
    def apply_requests(self, request: HttpRequest, queryset: QuerySet[CompanyDetailsChangeRequest]) -> None:
        for change_request in queryset.filter(status=ChangeRequestStatus.OPEN):
            services.apply_change_request(change_request=change_request, acting_user=acting_user(request))
        self.message_user(request, "Open requests applied.")

    @admin.action(description="Reject the selected requests", permissions=["change"])
    def reject_requests(self, request: HttpRequest, queryset: QuerySet[CompanyDetailsChangeRequest]) -> None:
        for change_request in queryset.filter(status=ChangeRequestStatus.OPEN):
            services.reject_change_request(change_request=change_request, acting_user=acting_user(request))
        self.message_user(request, "Open requests rejected.")
