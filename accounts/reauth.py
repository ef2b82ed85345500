"""Re-authentication ("sudo mode"): security changes ask for the password again after a while."""

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

SESSION_KEY = "reauthenticated_at"


def mark_reauthenticated(request: HttpRequest) -> None:
    request.session[SESSION_KEY] = time.time()


def recently_reauthenticated(request: HttpRequest) -> bool:
    at = request.session.get(SESSION_KEY)
    return at is not None and time.time() - at < settings.REAUTHENTICATION_VALID_SECONDS


def recent_password_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not recently_reauthenticated(request):
            query = urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('reauthenticate')}?{query}")
        return view(request, *args, **kwargs)

    return wrapper


@receiver(user_logged_in)
def _password_just_entered(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        mark_reauthenticated(request)
