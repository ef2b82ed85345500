"""The support staff's pages for organisations and users (company-details requests: support/admin.py)."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from phonenumber_field.modelfields import PhoneNumberField

from accounts import services
from accounts.forms import PhoneNumberWithCountryField
from accounts.models import Organisation, PortalPermission, Role, User
from accounts.types import acting_user


class UserInline(admin.TabularInline):
    model = User
    fields = readonly_fields = ("email", "full_name", "role", "is_active", "onboarded_at")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "is_verified", "user_count", "user_limit", "created_at"]
    list_filter = ["is_verified"]
    search_fields = ["name", "public_id", "registration_number"]
    readonly_fields = ["public_id", "is_verified", "verified_at", "verified_by", "created_at"]
    fieldsets = [
        (None, {"fields": ["name", "public_id", "user_limit"]}),
        ("Registered details", {"fields": ["registration_number", "vat_number", "address", "country"]}),
        ("Verification", {"fields": ["is_verified", "verified_at", "verified_by"]}),
    ]
    inlines = [UserInline]
    actions = ["mark_verified", "mark_not_verified"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organisation]:
        return super().get_queryset(request).annotate(active_users=Count("users", filter=Q(users__is_active=True)))

    @admin.display(description="Active users", ordering="active_users")
    def user_count(self, obj: Organisation) -> int:
        return int(getattr(obj, "active_users", 0))

    @admin.action(description="Mark selected organisations verified", permissions=["change"])
    def mark_verified(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        for org in queryset:
            services.mark_organisation_verified(organisation=org, verified=True, acting_user=acting_user(request))
        self.message_user(request, f"{queryset.count()} organisation(s) marked verified.")

    @admin.action(description="Mark selected organisations not verified", permissions=["change"])
    def mark_not_verified(self, request: HttpRequest, queryset: QuerySet[Organisation]) -> None:
        for org in queryset:
            services.mark_organisation_verified(organisation=org, verified=False, acting_user=acting_user(request))
        self.message_user(request, f"{queryset.count()} organisation(s) marked not verified.")


class UserAddForm(forms.ModelForm):
    """Creates an organisation user (through the same rules as the portal) or, for a superuser, a support user."""

    class Meta:
        model = User
        fields = ["email", "full_name", "organisation", "role", "is_staff"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        org: Organisation | None = data.get("organisation")
        if org is None and "is_staff" not in self.fields:
            raise ValidationError("Choose the user's organisation.")
        if org is None and not data.get("is_staff"):
            raise ValidationError("Choose the user's organisation, or tick 'support staff'.")
        if org is not None and data.get("is_staff"):
            raise ValidationError("Support staff do not belong to an organisation.")
        if org is not None:
            services.check_user_limit(org)
        return data


class UserChangeForm(forms.ModelForm):
    """The role, active flag and portal permissions change through accounts.services.change_access
    (UserAdmin.save_related): the same rules, locks and audit events as the portal's users pages.
    They are checked here first, so a refusal is a message on the form."""

    acting_user: User  # set by UserAdmin.get_form

    class Meta:
        model = User
        fields = [
            "email",
            "full_name",
            "role",
            "is_active",
            "telephone",
            "mobile",
            "is_staff",
            "is_superuser",
            "groups",
            "user_permissions",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        instance: User = self.instance
        if instance.is_active and not data.get("is_active"):
            services.check_may_deactivate(user=instance, acting_user=self.acting_user)
        elif data.get("role") != Role.ADMIN:
            services.check_keeps_an_admin(instance)
        if data.get("is_active") and not instance.is_active and instance.organisation is not None:
            services.check_user_limit(instance.organisation)
        return data


# What makes someone support staff, or more: only a superuser gives or takes it (a Support-group
# member who could tick these on their own account would be a superuser in one click).
STAFF_FIELDS = ["is_staff", "is_superuser", "groups", "user_permissions"]


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["email", "full_name", "organisation", "role", "is_active", "is_staff", "onboarded_at"]
    list_filter = ["role", "is_active", "is_staff", "organisation"]
    search_fields = ["email", "full_name", "organisation__name"]
    list_select_related = ["organisation"]
    ordering = ["organisation__name", "email"]
    # The portal's country selector, and numbers shown as "+44 7400 123456".
    formfield_overrides = {PhoneNumberField: {"form_class": PhoneNumberWithCountryField}}
    readonly_fields = [
        "organisation",
        "date_joined",
        "last_login",
        "onboarded_at",
        "must_change_password",
        "second_factors",
    ]
    fieldsets = [
        (None, {"fields": ["email", "full_name", "organisation", "role", "is_active"]}),
        ("Contact", {"fields": ["telephone", "mobile"]}),
        ("Set-up", {"fields": ["onboarded_at", "must_change_password", "date_joined", "last_login"]}),
        ("Second factors", {"fields": ["second_factors"]}),
        ("Support staff", {"fields": ["is_staff", "is_superuser", "groups", "user_permissions"]}),
    ]
    filter_horizontal = ["groups", "user_permissions"]
    actions = ["resend_welcome", "reset_factors"]

    def _add_fields(self, request: HttpRequest) -> list[str]:
        fields = UserAddForm.Meta.fields
        return fields if request.user.is_superuser else [f for f in fields if f not in STAFF_FIELDS]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = UserChangeForm if obj else UserAddForm
        if obj is None:
            kwargs["fields"] = self._add_fields(request)
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            return form
        return type(form.__name__, (form,), {"acting_user": acting_user(request)})

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [(None, {"fields": self._add_fields(request)})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return self.readonly_fields if request.user.is_superuser else [*self.readonly_fields, *STAFF_FIELDS]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Support staff and superusers are changed by a superuser only: whoever could change
        # their email address could take their account over with a password reset.
        if obj is not None and (obj.is_staff or obj.is_superuser) and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deactivate instead (or remove in the portal): a deleted row would skip the last-admin rule
        # and the audit trail, and the trail would stop naming the person.
        return False

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if change:
            # The role and active flag are left as they were: save_related changes them through the services.
            obj.role, obj.is_active = form.initial["role"], form.initial["is_active"]
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        if data.get("organisation"):
            created = services.add_user(
                organisation=data["organisation"],
                email=data["email"],
                full_name=data["full_name"],
                role=Role(data["role"]),
                acting_user=acting_user(request),
            )
        else:
            created = services.add_support_user(
                email=data["email"],
                full_name=data["full_name"],
                acting_user=acting_user(request),
            )
        obj.pk = created.pk
        obj._state.adding = False
        self.message_user(request, f"A welcome email with a temporary password is on its way to {created.email}.")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if not change:
            super().save_related(request, form, formsets, change)
            return
        user: User = form.instance
        data = form.cleaned_data
        portal = Permission.objects.filter(content_type__app_label="accounts", codename__in=PortalPermission.values)
        portal_ids = set(portal.values_list("pk", flat=True))
        held = list(user.user_permissions.filter(pk__in=portal_ids))
        permissions = held
        if "user_permissions" in data:  # on a superuser's form: the portal's ones change through the service
            chosen = list(data["user_permissions"])
            permissions = [p for p in chosen if p.pk in portal_ids]
            data["user_permissions"] = [p for p in chosen if p.pk not in portal_ids] + held
        super().save_related(request, form, formsets, change)
        services.change_access(
            user=user,
            role=Role(data["role"]),
            is_active=bool(data["is_active"]),
            permissions=[PortalPermission(p.codename) for p in permissions],
            acting_user=acting_user(request),
        )

    @admin.display(description="Tokens")
    def second_factors(self, obj: User) -> str:
        tokens_url = reverse("admin:tokens_token_changelist") + f"?user__id__exact={obj.pk}"
        add_url = reverse("admin:tokens_token_add_hardware", args=[obj.pk])
        count = obj.tokens.count()
        return format_html(
            '<a href="{}">{} token(s)</a> · <a href="{}">Add a hardware token</a>', tokens_url, count, add_url
        )

    def _changeable(self, request: HttpRequest, queryset: QuerySet[User]) -> list[User]:
        users = []
        for user in queryset:
            if self.has_change_permission(request, user):
                users.append(user)
            else:
                self.message_user(request, f"{user.email}: only a superuser changes support staff.", messages.WARNING)
        return users

    @admin.action(description="Resend the welcome email (new temporary password)", permissions=["change"])
    def resend_welcome(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in self._changeable(request, queryset):
            try:
                services.resend_welcome_email(user=user, acting_user=acting_user(request))
            except ValidationError as exc:
                self.message_user(request, f"{user.email}: {' '.join(exc.messages)}", messages.WARNING)
            else:
                self.message_user(request, f"Welcome email queued for {user.email}.")

    @admin.action(
        description="Reset second factors (emails a new temporary password; set-up starts again)",
        permissions=["change"],
    )
    def reset_factors(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        done = 0
        for user in self._changeable(request, queryset):
            try:
                services.reset_second_factors(user=user, acting_user=acting_user(request))
            except ValidationError as exc:
                self.message_user(request, f"{user.email}: {' '.join(exc.messages)}", messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(
                request, f"Second factors reset for {done} user(s). Each gets an email with a temporary password."
            )
