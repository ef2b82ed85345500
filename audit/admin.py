from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Support reads every organisation's trail; nobody, superusers included, may change it."""

    list_display = ["at", "organisation", "actor_label", "action", "target_label", "ip_address"]
    list_filter = ["action", "organisation"]
    search_fields = ["actor_label", "target_label", "action"]
    list_select_related = ["organisation"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
