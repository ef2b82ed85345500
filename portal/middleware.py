"""Responses to a signed-in person are kept by no cache, neither the browser's nor a proxy's."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control


class NoStoreWhenSignedInMiddleware:
    """``Cache-Control: no-store, private`` on every response to a session user, by default.

    Downloads, CSV exports and token pages otherwise carry only ``Vary: Cookie``: a shared proxy
    or the disk cache of a shared computer could keep an invoice or a token list for the next
    person. A default here, not a decorator per view, so a new view cannot forget it. A view that
    chose its own caching keeps it; static files (WhiteNoise answers before this runs) and the
    platform API (a bearer key, no session user) are untouched.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        # Read after the view: a login in this request counts, a logout does not.
        if not response.has_header("Cache-Control") and _signed_in(request):
            patch_cache_control(response, no_store=True, private=True)
        return response


def _signed_in(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is None:
        return False
    try:
        return bool(user.is_authenticated)
    except Exception:
        # The user could not be loaded (the database or cache is down, and the view already
        # answered the 503 page for it): asking again would fail again. Not storing is the safe side.
        return True
