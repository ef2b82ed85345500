from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.types import acting_user
from platform_api import services
from platform_api.models import PlatformKey


@admin.register(PlatformKey)
class PlatformKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    fields = ["name", "prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the audit trail keeps naming the key

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*self.readonly_fields, "name"] if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: PlatformKey, form: Any, change: bool) -> None:
        if change:
            return
        key, plain = services.issue_key(name=obj.name, acting_user=acting_user(request))
        obj.pk = key.pk
        obj._state.adding = False
        self.message_user(
            request,
            f"Key issued. Copy it now, it is not shown again: {plain}",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[PlatformKey]) -> None:
        for key in queryset:
            services.revoke_key(key=key, acting_user=acting_user(request))
        self.message_user(request, "Keys revoked.")
