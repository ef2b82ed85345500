from django.contrib import admin

from common.admin import ReadOnlyModelAdmin
from whitelist.models import WhitelistEntry


@admin.register(WhitelistEntry)
class WhitelistEntryAdmin(ReadOnlyModelAdmin):
    """Support reads every organisation's whitelist; changes go through the customer's admins
    (a removal must be audited and emailed to the organisation's admins)."""

    list_display = ["network", "organisation", "description", "owner", "expires_on", "added_by", "added_at"]
    list_filter = ["organisation"]
    search_fields = ["network", "description", "organisation__name", "organisation__public_id"]
    list_select_related = ["organisation", "added_by", "owner"]
    fields = ["organisation", "network", "description", "owner", "expires_on", "added_by", "added_at"]
    ordering = ["organisation__name", "added_at"]
