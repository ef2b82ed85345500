"""The API key pages: every user of the organisation reads the list; admins and granted users change
keys, each change after the password was confirmed again (accounts.reauth)."""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.permissions import MANAGE_API_KEYS, may, require
from accounts.reauth import recent_password_required
from accounts.types import AuthenticatedRequest
from apikeys import selectors, services
from apikeys.forms import CreateKeyForm, EditKeyForm, RollKeyForm, show_service_error
from apikeys.models import ApiKey

# The plain secret waits here, in the actor's own session, from the POST that made it to the one
# GET that shows it (post/redirect/get: a reload never makes another). That GET pops it; only
# the key's id stays, so a reload can say "already shown".
SECRET_SESSION_KEY = "api-key-secret-once"


def _key_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Scope first (another organisation's id is a 404 whatever the user may do), then the permission."""

    @wraps(view)
    def wrapper(request: AuthenticatedRequest, key_id: int) -> HttpResponse:
        key = selectors.access_key(user=request.user, key_id=key_id)
        require(request.user, MANAGE_API_KEYS)
        return view(request, key)

    return wrapper


def api_key_list(request: AuthenticatedRequest) -> HttpResponse:
    rows = selectors.key_rows(user=request.user, now=timezone.now())
    context = {
        "rows": rows,
        "can_manage": may(request.user, MANAGE_API_KEYS),
        "environment": settings.PORTAL_ENVIRONMENT,
        "unused_days": selectors.UNUSED_DAYS,
    }
    return render(request, "apikeys/list.html", context)


def api_key_add(request: AuthenticatedRequest) -> HttpResponse:
    require(request.user, MANAGE_API_KEYS)
    return _add(request)


@recent_password_required
def _add(request: AuthenticatedRequest) -> HttpResponse:
    organisation = request.user.organisation
    assert organisation is not None
    form = CreateKeyForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:  # the form's fields are the service's: name, methods, addresses, expires_on
            key, plain = services.create_key(organisation=organisation, acting_user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            show_service_error(form, exc)
        else:
            return _show_once(request, key, plain, change="created")
    context = {"form": form, "environment": settings.PORTAL_ENVIRONMENT}
    return render(request, "apikeys/add.html", context, status=400 if form.is_bound else 200)


def _show_once(request: AuthenticatedRequest, key: ApiKey, plain: str, *, change: str) -> HttpResponse:
    request.session[SECRET_SESSION_KEY] = {"key": key.pk, "secret": plain, "change": change}
    return redirect("api-key-secret")


@never_cache
def api_key_secret(request: AuthenticatedRequest) -> HttpResponse:
    """The new secret, once, with a copy button; a reload says it was shown."""
    pending = request.session.get(SECRET_SESSION_KEY) or {}
    if "key" not in pending:
        return redirect("api-keys")
    key = selectors.access_key(user=request.user, key_id=pending["key"])  # the access check again
    secret = pending.get("secret", "")
    if secret:
        request.session[SECRET_SESSION_KEY] = {"key": key.pk, "change": pending.get("change")}
    context = {"key": key, "secret": secret, "change": pending.get("change")}
    return render(request, "apikeys/secret.html", context)


@_key_view
def api_key_edit(request: AuthenticatedRequest, key: ApiKey) -> HttpResponse:
    return _edit(request, key)


CHANGED_FIELD_NAMES = {"name": "name", "methods": "functions", "addresses": "source addresses", "expires_at": "expiry"}


@recent_password_required
def _edit(request: AuthenticatedRequest, key: ApiKey) -> HttpResponse:
    form = EditKeyForm(request.POST if request.method == "POST" else None, key=key)
    usable = key.is_active(timezone.now())
    if form.is_bound and form.is_valid():
        try:
            key, changed = services.update_key(key=key, acting_user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            show_service_error(form, exc)
        else:
            if changed:
                what = ", ".join(CHANGED_FIELD_NAMES[field] for field in changed)
                messages.success(
                    request, f"“{key.name}” is changed ({what}): the platform applies it at its next check."
                )
            else:
                messages.info(request, f"Nothing changed: “{key.name}” is as it was.")
            return redirect("api-keys")
    context = {"key": key, "form": form, "usable": usable, "environment": settings.PORTAL_ENVIRONMENT}
    return render(request, "apikeys/edit.html", context, status=400 if form.is_bound else 200)


@_key_view
def api_key_roll(request: AuthenticatedRequest, key: ApiKey) -> HttpResponse:
    return _roll(request, key)


@recent_password_required
def _roll(request: AuthenticatedRequest, key: ApiKey) -> HttpResponse:
    form = RollKeyForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            key, plain = services.roll_key(key=key, overlap=form.cleaned_data["overlap"], acting_user=request.user)
        except ValidationError as exc:
            show_service_error(form, exc)
        else:
            return _show_once(request, key, plain, change="rolled")
    context = {"key": key, "form": form, "usable": key.is_active(timezone.now())}
    return render(request, "apikeys/roll.html", context, status=400 if form.is_bound else 200)


@_key_view
def api_key_revoke(request: AuthenticatedRequest, key: ApiKey) -> HttpResponse:
    return _revoke(request, key)


@recent_password_required
def _revoke(request: AuthenticatedRequest, key: ApiKey) -> HttpResponse:
    if request.method == "POST":
        try:
            services.revoke_key(key=key, acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"“{key.name}” is revoked: the platform refuses it from its next check.")
        return redirect("api-keys")
    return render(request, "apikeys/revoke.html", {"key": key})
