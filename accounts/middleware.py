import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect

from accounts import services
from accounts.models import User


def onboarding_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Mark a view as reachable by a logged-in user who has not finished account setup."""
    view.onboarding_view = True  # type: ignore[attr-defined]
    return view


LAST_ACTIVITY_SESSION_KEY = "_last_activity"


class IdleTimeoutMiddleware:
    """Restarts the session's idle timeout at most once per SESSION_ACTIVITY_RESOLUTION seconds.

    Saving the session on every request (SESSION_SAVE_EVERY_REQUEST) would cost a database and a
    cache write per page view; marking it modified only when the last save is older than the
    resolution keeps the timeout accurate to that resolution.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            last = session.get(LAST_ACTIVITY_SESSION_KEY)  # loads it; an unknown or expired key empties it
            now = int(time.time())
            stale = not isinstance(last, int) or now - last >= settings.SESSION_ACTIVITY_RESOLUTION
            if stale and not session.is_empty():
                session[LAST_ACTIVITY_SESSION_KEY] = now
        return self.get_response(request)


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
