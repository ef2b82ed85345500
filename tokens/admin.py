"""Support's token pages: rename types; test, resynchronise, disable, enable, unlock and delete any token.

A token's secret never shows here: the page knows the token's type, status and device label
(phone number, email address, serial), not its key; django-otp's own device admins are
unregistered (portal/apps.py). Each page and action needs the Support group's permission for it.
"""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from accounts.models import User
from accounts.types import acting_user
from common.ratelimit import RateLimited
from tokens import kinds, services
from tokens.forms import HardwareTokenForm, ResyncForm, TestCodeForm
from tokens.models import Token, TokenType


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
    fields = ["user", "kind", "enabled", "description", "serial", "expires_at", "created_at", "updated_at", "tools"]
    readonly_fields = ["user", "kind", "enabled", "created_at", "updated_at", "tools"]
    actions = ["disable", "enable", "unlock", "delete_with_device"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # enrolment needs the person holding the token: done in the portal

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the action below deletes the device with the token and audits it

    def has_remove_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("tokens.delete_token")

    def has_add_hardware_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("tokens.add_token")

    def _token_for(self, request: HttpRequest, token_id: int, **lookup: Any) -> Token:
        """The token a tool page works on, for someone who may change tokens."""
        token = get_object_or_404(Token.objects.select_related("user"), pk=token_id, **lookup)
        if not self.has_change_permission(request, token):
            raise PermissionDenied
        return token

    @admin.display(description="Test and reset")
    def tools(self, obj: Token) -> str:
        test_url = reverse("admin:tokens_token_test", args=[obj.pk])
        if not obj.spec.resyncs:
            return format_html('<a href="{}">Test a code</a>', test_url)
        reset_url = reverse("admin:tokens_token_reset", args=[obj.pk])
        return format_html('<a href="{}">Test a code</a> · <a href="{}">Resynchronise</a>', test_url, reset_url)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<int:token_id>/test/", view(self.test_view), name="tokens_token_test"),
            path("<int:token_id>/reset/", view(self.reset_view), name="tokens_token_reset"),
            path("add-hardware/<int:user_id>/", view(self.add_hardware_view), name="tokens_token_add_hardware"),
            *super().get_urls(),
        ]

    def _page(self, request: HttpRequest, title: str, form: Any, **extra: Any) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "title": title, "form": form, "opts": self.model._meta}
        return TemplateResponse(request, "admin/tokens/token_tool.html", {**context, **extra})

    def test_view(self, request: HttpRequest, token_id: int) -> HttpResponse:
        token = self._token_for(request, token_id)
        result = None
        if request.method == "POST" and "send" in request.POST:
            try:
                services.send_token_code(token=token)
                self.message_user(request, f"Code sent to {token.device_label}.")
            except (RateLimited, ValidationError) as exc:
                self.message_user(request, str(getattr(exc, "message", exc)), messages.ERROR)
            return redirect("admin:tokens_token_test", token_id)
        form = TestCodeForm(request.POST or None)
        if form.is_bound and form.is_valid():
            try:
                result = services.test_token(
                    token=token, code=form.cleaned_data["code"], acting_user=acting_user(request)
                )
            except ValidationError as exc:
                form.add_error(None, exc)
        return self._page(request, f"Test {token}", form, token=token, result=result, can_send=token.sends_codes)

    def reset_view(self, request: HttpRequest, token_id: int) -> HttpResponse:
        token = self._token_for(request, token_id, kind__in=kinds.RESYNCABLE)
        form = ResyncForm(request.POST or None)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            check = services.resync_hotp(
                token=token,
                first_code=data["first_code"],
                second_code=data["second_code"],
                acting_user=acting_user(request),
            )
            if check:
                self.message_user(request, "The token is back in step.")
                return redirect("admin:tokens_token_change", token_id)
            form.add_error(
                None, check.refusal or "Those codes do not follow each other within the window. Nothing was changed."
            )
        return self._page(request, f"Resynchronise {token}", form, token=token)

    def add_hardware_view(self, request: HttpRequest, user_id: int) -> HttpResponse:
        if not self.has_add_hardware_permission(request):
            raise PermissionDenied
        owner = get_object_or_404(User, pk=user_id)
        form = HardwareTokenForm(request.POST or None)
        if form.is_bound and form.is_valid():
            token = form.enrol(owner=owner, acting_user=acting_user(request))
            if token is not None:
                self.message_user(request, f"Hardware token {token.serial} added for {owner.email}.")
                return redirect("admin:tokens_token_change", token.pk)
        return self._page(request, f"Add a hardware token for {owner.email}", form)

    @admin.display(description="Status")
    def status_label(self, obj: Token) -> str:
        return obj.status.label + (" (locked)" if obj.is_locked else "")

    @admin.action(description="Disable selected tokens", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[Token]) -> None:
        for token in queryset:
            services.set_enabled(token=token, enabled=False, acting_user=acting_user(request))
        self.message_user(request, "Tokens disabled.")

    @admin.action(description="Enable selected tokens", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[Token]) -> None:
        for token in queryset:
            services.set_enabled(token=token, enabled=True, acting_user=acting_user(request))
        self.message_user(request, "Tokens enabled.")

    @admin.action(description="Unlock selected tokens (clear failed attempts)", permissions=["change"])
    def unlock(self, request: HttpRequest, queryset: QuerySet[Token]) -> None:
        for token in queryset:
            services.unlock(token=token, acting_user=acting_user(request))
        self.message_user(request, "Tokens unlocked.")

    @admin.action(description="Delete selected tokens", permissions=["remove"])
    def delete_with_device(self, request: HttpRequest, queryset: QuerySet[Token]) -> None:
        count = 0
        for token in queryset:
            services.delete_token(token=token, acting_user=acting_user(request))
            count += 1
        self.message_user(request, f"{count} token(s) deleted.")
