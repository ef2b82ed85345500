"""Read-only views of what the platform reported, for support answering questions about it."""

from django.contrib import admin
from django.utils.html import format_html_join

from common.admin import ReadOnlyModelAdmin
from dashboard import error_tickets
from dashboard.models import DailyMethodCount, ErrorLog, FiveMinuteMethodCount, IngestedBatch, VaultStat


class ReadOnlyAdmin(ReadOnlyModelAdmin):
    """Only the platform writes these rows; support looks."""

    # Counting a million error rows for "n of N selected" is slow and tells support nothing.
    show_full_result_count = False
    list_per_page = 50


@admin.register(DailyMethodCount)
class DailyMethodCountAdmin(ReadOnlyAdmin):
    list_display = ["day", "organisation", "method", "calls", "errors"]
    list_filter = ["method"]
    list_select_related = ["organisation"]
    search_fields = ["organisation__name", "organisation__public_id", "method"]
    date_hierarchy = "day"


@admin.register(FiveMinuteMethodCount)
class FiveMinuteMethodCountAdmin(ReadOnlyAdmin):
    """The last two days in 5-minute slots: what an error alarm read when it fired."""

    list_display = ["start", "organisation", "method", "calls", "errors"]
    list_select_related = ["organisation"]
    search_fields = ["=organisation__public_id", "=method"]
    ordering = ["-id"]


@admin.register(ErrorLog)
class ErrorLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "organisation", "method", "code", "request_id", "source_ip"]
    readonly_fields = ["tickets"]
    list_select_related = ["organisation"]
    # Exact look-ups only: a LIKE over millions of rows would time out.
    search_fields = ["=request_id", "=code", "=organisation__public_id"]
    # Newest received first along the primary key: sorting all organisations' rows by time is slow.
    ordering = ["-id"]

    @admin.display(description="support tickets about it")
    def tickets(self, error: ErrorLog) -> str:
        links = error_tickets.for_admin(error_id=error.pk)
        if not links:
            return "—"
        return format_html_join(", ", '<a href="{}">{}</a>', ((link.url, link.label) for link in links))


@admin.register(IngestedBatch)
class IngestedBatchAdmin(ReadOnlyAdmin):
    list_display = ["batch_id", "received_at", "key", "events"]
    list_select_related = ["key"]
    search_fields = ["=batch_id"]


@admin.register(VaultStat)
class VaultStatAdmin(ReadOnlyAdmin):
    list_display = ["at", "organisation", "token_count"]
    list_select_related = ["organisation"]
    search_fields = ["organisation__name", "organisation__public_id"]
