from collections.abc import Callable
from typing import Any

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts import services
from accounts.models import User


class PortalAccessMiddleware:
    """Keeps logged-in users on the setup steps until done, and off the portal without a factor.

    Runs after Django's LoginRequiredMiddleware, so anonymous users are already sent to login;
    views marked ``login_not_required`` (login, password reset) are left alone. Support staff
    (no organisation) are sent to the admin.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponse | None:
        user = request.user
        if not isinstance(user, User) or not getattr(view_func, "login_required", True):
            return None
        is_setup_view = getattr(view_func, "onboarding_view", False)
        # Fast path for the common case; the full check costs a query per device type.
        settled = user.is_verified() and user.is_onboarded and not user.must_change_password
        step = None if settled else services.next_onboarding_step(user)
        if step is not None:
            return None if is_setup_view else redirect(step)
        if not user.is_verified():
            # Has a factor but this session never proved it: start again from the login page.
            logout(request)
            return redirect("login")
        match = request.resolver_match
        is_admin = match is not None and match.app_name == "admin"
        if user.organisation_id is None and not is_admin and not is_setup_view:
            return redirect("admin:index")
        return None
