from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from whitelist.models import WhitelistEntry


@admin.register(WhitelistEntry)
class WhitelistEntryAdmin(admin.ModelAdmin):
    """Support reads every organisation's whitelist; changes go through the customer's admins."""

    list_display = ["network", "organisation", "description", "added_by", "added_at"]
    list_filter = ["organisation"]
    search_fields = ["network", "description", "organisation__name", "organisation__public_id"]
    list_select_related = ["organisation", "added_by"]
    fields = ["organisation", "network", "description", "added_by", "added_at"]
    ordering = ["organisation__name", "added_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a removal must be audited and emailed to the organisation's admins
