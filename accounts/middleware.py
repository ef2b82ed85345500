import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase


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
