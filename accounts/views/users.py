"""The organisation admin's user management pages."""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render

from accounts import selectors, services
from accounts.forms import AddUserForm, ChangeUserForm
from accounts.models import PortalPermission, Role
from accounts.permissions import MANAGE_USERS, requires
from accounts.types import AuthenticatedRequest


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@requires(MANAGE_USERS)
def user_list(request: AuthenticatedRequest) -> HttpResponse:
    admin = request.user
    users = list(selectors.organisation_users(user=admin))
    organisation = admin.organisation
    assert organisation is not None
    active = sum(1 for u in users if u.is_active)
    at_limit = selectors.at_user_limit(organisation=organisation, active_count=active)
    context = {
        "users": users,
        "active_count": active,
        "at_limit": at_limit,
        "limit_message": services.user_limit_message(organisation) if at_limit else "",
    }
    return render(request, "accounts/users/list.html", context)


@requires(MANAGE_USERS)
def user_add(request: AuthenticatedRequest) -> HttpResponse:
    admin = request.user
    assert admin.organisation is not None
    form = AddUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.add_user(
                organisation=admin.organisation,
                email=data["email"],
                full_name=data["full_name"],
                role=Role(data["role"]),
                permissions=[PortalPermission(p) for p in data["permissions"]],
                acting_user=admin,
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                form.add_error(None, exc)
            else:
                form.add_error(None, _error_text(exc))
        else:
            messages.success(
                request, f"{user.full_name} was added and will get a welcome email with a temporary password."
            )
            return redirect("user-detail", user_id=user.pk)
    status = 400 if form.is_bound else 200
    # At the limit the form would only be refused: explain instead of offering it.
    limit_message = (
        services.user_limit_message(admin.organisation)
        if not form.is_bound and selectors.at_user_limit(organisation=admin.organisation)
        else ""
    )
    return render(request, "accounts/users/add.html", {"form": form, "limit_message": limit_message}, status=status)


@requires(MANAGE_USERS)
def user_detail(request: AuthenticatedRequest, user_id: int) -> HttpResponse:
    admin = request.user
    member = selectors.access_user(user=admin, user_id=user_id)
    form = ChangeUserForm(request.POST) if request.method == "POST" else ChangeUserForm.for_user(member)
    if form.is_bound and form.is_valid():
        try:
            services.change_role_and_permissions(
                user=member,
                role=Role(form.cleaned_data["role"]),
                permissions=[PortalPermission(p) for p in form.cleaned_data["permissions"]],
                acting_user=admin,
            )
        except ValidationError as exc:
            form.add_error(None, _error_text(exc))
        else:
            messages.success(request, f"{member.full_name}'s role and permissions are saved.")
            return redirect("user-detail", user_id=member.pk)
    context = {
        "member": member,
        "form": form,
        "can_resend": services.can_resend_welcome(member),
        "is_self": member.pk == admin.pk,
    }
    return render(request, "accounts/users/detail.html", context, status=400 if form.is_bound else 200)


def _user_action(action: Callable[..., object], success: str) -> Callable[[HttpRequest, int], HttpResponse]:
    @requires(MANAGE_USERS)
    def view(request: AuthenticatedRequest, user_id: int) -> HttpResponse:
        admin = request.user
        # Scope first: another organisation's id is a 404 whatever the method.
        member = selectors.access_user(user=admin, user_id=user_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            action(user=member, acting_user=admin)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, success.format(name=member.full_name or member.email))
        return redirect("user-detail", user_id=member.pk)

    return view


user_deactivate = _user_action(services.deactivate_user, "{name} is deactivated and can no longer log in.")
user_reactivate = _user_action(services.reactivate_user, "{name} is active again.")
_reset_factors = _user_action(
    services.reset_second_factors,
    "{name}'s second factors are removed. They will get an email with a temporary password to set up new ones.",
)


@requires(MANAGE_USERS)
def user_reset_factors(request: AuthenticatedRequest, user_id: int) -> HttpResponse:
    """Confirm first: the reset cannot be undone and ends the user's sessions."""
    member = selectors.access_user(user=request.user, user_id=user_id)
    if request.method == "POST":
        return _reset_factors(request, user_id)
    return render(request, "accounts/users/reset_factors.html", {"member": member})


user_resend_welcome = _user_action(
    services.resend_welcome_email,
    "A new welcome email with a fresh temporary password is on its way to {name}.",
)


@requires(MANAGE_USERS)
def user_remove(request: AuthenticatedRequest, user_id: int) -> HttpResponse:
    admin = request.user
    member = selectors.access_user(user=admin, user_id=user_id)
    if request.method == "POST":
        try:
            services.remove_user(user=member, acting_user=admin)
        except ValidationError as exc:
            messages.error(request, _error_text(exc))
            return redirect("user-detail", user_id=member.pk)
        messages.success(request, f"{member.full_name or member.email} was removed.")
        return redirect("user-list")
    return render(request, "accounts/users/remove.html", {"member": member})
