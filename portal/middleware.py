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
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response
