"""Support follows token extracts here and retries a failed one; it never sees what an extract holds.

An extract is a copy of an organisation's vault tokens, and the portal tells customers that only
their organisation's admins see it: no column, field or link here leads to its file (the File
Manager's admin leaves extracts out too, files/admin.py).
"""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.types import acting_user
from extracts import services
from extracts.models import ExtractRequest, Status


@admin.register(ExtractRequest)
class ExtractRequestAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "organisation",
        "kind",
        "status",
        "progress_shown",
        "rows_written",
        "requested_by_shown",
        "requested_at",
        "attempts",
        "finished_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["organisation__name", "organisation__public_id", "requested_by__email"]
    list_select_related = ["organisation", "requested_by"]
    date_hierarchy = "requested_at"
    # Everything but the file.
    fields = readonly_fields = (
        "organisation",
        "kind",
        "status",
        "failure_reason",
        "progress_shown",
        "rows_written",
        "rows_total",
        "attempts",
        "requested_by_shown",
        "requested_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "encrypted_to",
    )
    actions = ["retry"]

    # Extracts are requested by an organisation's admin or its schedule, and written by a worker.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("extracts.change_extractrequest")

    @admin.display(description="Progress", ordering="progress")
    def progress_shown(self, obj: ExtractRequest) -> str:
        if obj.status == Status.FAILED:
            return "—"
        if obj.is_active and obj.rows_total is not None:
            return f"{obj.progress}% ({obj.rows_written} of {obj.rows_total} rows)"
        return f"{obj.progress}%"

    @admin.display(description="Requested by", ordering="requested_by__email")
    def requested_by_shown(self, obj: ExtractRequest) -> str:
        person = obj.requested_by
        who = (person.full_name or person.email) if person else "a former user"
        return f"Schedule (set by {who})" if obj.kind == "scheduled" else who

    @admin.action(description="Retry the selected failed extracts", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[ExtractRequest]) -> None:
        for extract in queryset.select_related("organisation"):
            try:
                retry = services.retry_extract(extract=extract, acting_user=acting_user(request))
            except ValidationError as exc:
                self.message_user(request, f"{extract}: {' '.join(exc.messages)}", messages.WARNING)
            else:
                self.message_user(
                    request,
                    f"{extract} of {extract.organisation.name} is queued again as token extract #{retry.pk}.",
                    messages.SUCCESS,
                )
