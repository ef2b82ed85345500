from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.types import acting_user
from apikeys import services
from apikeys.models import ApiKey, ApiKeySecret
from common.admin import ReadOnlyModelAdmin


class ApiKeySecretInline(admin.TabularInline):
    """Prefixes and when each secret works; never the hash (no page needs it)."""

    model = ApiKeySecret
    fields = readonly_fields = ("prefix", "created_at", "valid_until")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyModelAdmin):
    """Support reads every organisation's keys. Customers' admins create and roll them; support may
    only revoke one (a leaked key reported to support), through the service: audited and emailed."""

    list_display = ["name", "organisation", "environment", "created_at", "expires_at", "revoked_at"]
    list_filter = ["environment", "organisation"]
    search_fields = ["name", "organisation__name", "organisation__public_id", "secrets__prefix"]
    list_select_related = ["organisation"]
    fields = readonly_fields = (
        "organisation",
        "environment",
        "name",
        "methods",
        "addresses",
        "expires_at",
        "created_by",
        "created_at",
        "revoked_at",
        "revoked_by",
    )
    inlines = [ApiKeySecretInline]
    ordering = ["organisation__name", "-created_at"]
    actions = ["revoke"]

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("apikeys.change_apikey")

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        for key in queryset:
            try:
                services.revoke_key(key=key, acting_user=acting_user(request))
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)
            else:
                revoked += 1
        if revoked:
            self.message_user(request, f"{revoked} key(s) revoked; the organisations' admins are told by email.")
