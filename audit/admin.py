from django.contrib import admin

from audit.models import AuditEvent
from common.admin import ReadOnlyModelAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyModelAdmin):
    """Support reads every organisation's trail; nobody, superusers included, may change it."""

    list_display = ["at", "organisation", "actor_label", "action", "target_label", "ip_address"]
    list_filter = ["action", "organisation"]
    search_fields = ["actor_label", "target_label", "action"]
    list_select_related = ["organisation"]
    date_hierarchy = "at"
