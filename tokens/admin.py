"""Support's token pages: rename types; disable, enable, unlock and delete any token."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.types import acting_user
from tokens import services
from tokens.models import SmsDevice, Token, TokenType


@admin.register(TokenType)
class TokenTypeAdmin(admin.ModelAdmin):
    list_display = ["kind", "display_name"]
    list_editable = ["display_name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "status_label", "description", "serial", "expires_at", "updated_at"]
    list_filter = ["kind", "enabled", "user__organisation"]
    search_fields = ["user__email", "serial", "description"]
    list_select_related = ["user"]
    fields = ["user", "kind", "enabled", "description", "serial", "expires_at", "created_at", "updated_at"]
    readonly_fields = ["user", "kind", "enabled", "created_at", "updated_at"]
    actions = ["disable", "enable", "unlock", "delete_with_device"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # enrolment needs the person holding the token: done in the portal

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the action below deletes the device with the token and audits it

    @admin.display(description="Status")
    def status_label(self, obj: Token) -> str:
        return obj.status.label + (" (locked)" if obj.is_locked else "")

    @admin.action(description="Disable selected tokens")
    def disable(self, request: HttpRequest, queryset: QuerySet[Token]) -> None:
        for token in queryset:
            services.set_enabled(token=token, enabled=False, acting_user=acting_user(request), request=request)
        self.message_user(request, "Tokens disabled.")

    @admin.action(description="Enable selected tokens")
    def enable(self, request: HttpRequest, queryset: QuerySet[Token]) -> None:
        for token in queryset:
            services.set_enabled(token=token, enabled=True, acting_user=acting_user(request), request=request)
        self.message_user(request, "Tokens enabled.")

    @admin.action(description="Unlock selected tokens (clear failed attempts)")
    def unlock(self, request: HttpRequest, queryset: QuerySet[Token]) -> None:
        for token in queryset:
            services.unlock(token=token, acting_user=acting_user(request), request=request)
        self.message_user(request, "Tokens unlocked.")

    @admin.action(description="Delete selected tokens")
    def delete_with_device(self, request: HttpRequest, queryset: QuerySet[Token]) -> None:
        count = 0
        for token in queryset:
            services.delete_token(token=token, acting_user=acting_user(request), request=request)
            count += 1
        self.message_user(request, f"{count} token(s) deleted.")


@admin.register(SmsDevice)
class SmsDeviceAdmin(admin.ModelAdmin):
    list_display = ["user", "number", "confirmed"]
    search_fields = ["user__email", "number"]
    exclude = ["token"]
