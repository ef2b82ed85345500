from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from platform_api import services


def platform_key_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For the platform's machine-to-machine endpoints: a bearer key instead of a session."""

    @csrf_exempt
    @login_not_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = services.authenticate(request)
        if key is None:
            response = JsonResponse({"error": "A valid platform key is required."}, status=401)
            response["WWW-Authenticate"] = 'Bearer realm="platform"'
            return response
        request.platform_key = key  # type: ignore[attr-defined]
        services.record_use(key=key, request=request)
        return view(request, *args, **kwargs)

    return wrapper
