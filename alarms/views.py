"""The alarm pages: every user of the organisation reads the alarms and their history; admins
define alarms, set the webhook and read its delivery log."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.permissions import MANAGE_ALARMS, may, requires
from accounts.types import AuthenticatedRequest
from alarms import selectors, services, webhooks
from alarms.forms import AlarmForm, RotateSecretForm, WebhookForm
from alarms.models import Alarm, show_number
from common.ratelimit import RateLimited
from dashboard import selectors as usage

PER_PAGE = 50
# The new secret waits here, in the admin's own session, from the POST that made it to the one GET
# that shows it (post/redirect/get: a reload never makes another), as tokens' backup codes do.
SECRET_SESSION_KEY = "webhook-secret-once"


def alarm_list(request: AuthenticatedRequest) -> HttpResponse:
    context = {
        "alarms": list(selectors.alarms_for(user=request.user)),
        "limit": settings.ALARMS_PER_ORGANISATION,
        "recovery_minutes": settings.ALARM_RECOVERY_MINUTES,
        "can_manage": may(request.user, MANAGE_ALARMS),
        "webhook": selectors.webhook_for(user=request.user) if may(request.user, MANAGE_ALARMS) else None,
    }
    return render(request, "alarms/list.html", context)


def _input(form: AlarmForm) -> services.AlarmInput:
    data = form.cleaned_data
    return services.AlarmInput(
        name=data["name"],
        method=data["method"],
        metric=data["metric"],
        window_minutes=data["window_minutes"],
        threshold=data["threshold"],
        recipient_ids=data["recipients"],
        enabled=data["enabled"],
    )


def _form_page(
    request: AuthenticatedRequest,
    alarm: Alarm | None,
    initial: dict[str, Any],
    save: Callable[[services.AlarmInput], Alarm],
    saved_message: Callable[[Alarm], str],
) -> HttpResponse:
    """The alarm form, new or filled: saved through ``save``, or shown again with what is wrong."""
    colleagues = selectors.colleagues(user=request.user)
    form = AlarmForm(request.POST if request.method == "POST" else None, colleagues=colleagues, initial=initial)
    if form.is_bound and form.is_valid():
        try:
            alarm = save(_input(form))
        except ValidationError as exc:
            form.show_service_error(exc)
        else:
            messages.success(request, saved_message(alarm))
            return redirect("alarms")
    context = {"form": form, "alarm": alarm, "methods": usage.known_methods(user=request.user)}
    return render(request, "alarms/form.html", context, status=400 if form.is_bound else 200)


@requires(MANAGE_ALARMS)
def alarm_add(request: AuthenticatedRequest) -> HttpResponse:
    organisation = request.user.organisation
    assert organisation is not None
    return _form_page(
        request,
        None,
        {"recipients": [request.user.pk]},
        lambda data: services.create_alarm(organisation=organisation, data=data, acting_user=request.user),
        lambda alarm: f"The alarm “{alarm.name}” is set: it fires when the {alarm.condition}.",
    )


@requires(MANAGE_ALARMS)
def alarm_edit(request: AuthenticatedRequest, alarm_id: int) -> HttpResponse:
    alarm = selectors.access_alarm(user=request.user, alarm_id=alarm_id)
    initial: dict[str, Any] = {
        "name": alarm.name,
        "method": alarm.method,
        "metric": alarm.metric,
        "window_minutes": alarm.window_minutes,
        "threshold": show_number(alarm.threshold),
        "recipients": [person.pk for person in alarm.recipients.all()],
        "enabled": alarm.enabled,
    }
    return _form_page(
        request,
        alarm,
        initial,
        lambda data: services.update_alarm(alarm=alarm, data=data, acting_user=request.user),
        lambda saved: f"The alarm “{saved.name}” is saved.",
    )


@requires(MANAGE_ALARMS)
def alarm_delete(request: AuthenticatedRequest, alarm_id: int) -> HttpResponse:
    alarm = selectors.access_alarm(user=request.user, alarm_id=alarm_id)
    if request.method == "POST":
        try:
            services.delete_alarm(alarm=alarm, acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"The alarm “{alarm.name}” is deleted. Its history stays.")
        return redirect("alarms")
    return render(request, "alarms/delete.html", {"alarm": alarm})


def alarm_history(request: AuthenticatedRequest) -> HttpResponse:
    page = Paginator(selectors.history_for(user=request.user), PER_PAGE).get_page(request.GET.get("page"))
    context = {"page": page, "retention_days": settings.ALARM_HISTORY_RETENTION_DAYS}
    return render(request, "alarms/history.html", context)


# --- The webhook ---------------------------------------------------------------------------------


def _webhook_page(
    request: AuthenticatedRequest,
    *,
    form: WebhookForm | None = None,
    secret: str = "",
    status: int = 200,
) -> HttpResponse:
    endpoint = selectors.webhook_for(user=request.user)
    if form is None:
        form = WebhookForm(initial={"url": endpoint.url} if endpoint else None)
    context = {
        "endpoint": endpoint,
        "form": form,
        "rotate_form": RotateSecretForm(),
        "secret": secret,
        "signature_header": webhooks.SIGNATURE_HEADER,
        "tests_per_hour": settings.WEBHOOK_TESTS_PER_ORGANISATION_PER_HOUR,
    }
    return render(request, "alarms/webhook.html", context, status=status)


@never_cache
@requires(MANAGE_ALARMS)
def webhook(request: AuthenticatedRequest) -> HttpResponse:
    if request.method == "POST":
        organisation = request.user.organisation
        assert organisation is not None
        form = WebhookForm(request.POST)
        if form.is_valid():
            try:
                endpoint, secret = webhooks.set_webhook(
                    organisation=organisation, url=form.cleaned_data["url"], acting_user=request.user
                )
            except ValidationError as exc:
                form.show_service_error(exc)
            else:
                if secret:
                    request.session[SECRET_SESSION_KEY] = secret
                messages.success(request, f"Alarm events go to {endpoint.url}.")
                return redirect("alarm-webhook")
        return _webhook_page(request, form=form, status=400)
    return _webhook_page(request, secret=request.session.pop(SECRET_SESSION_KEY, ""))


@require_POST
@requires(MANAGE_ALARMS)
def webhook_rotate(request: AuthenticatedRequest) -> HttpResponse:
    endpoint = selectors.webhook_for(user=request.user)
    if endpoint is None:
        messages.error(request, webhooks.NO_WEBHOOK)
        return redirect("alarm-webhook")
    form = RotateSecretForm(request.POST)
    stop_previous = form.is_valid() and form.cleaned_data["stop_previous"]
    request.session[SECRET_SESSION_KEY] = webhooks.rotate_secret(
        endpoint=endpoint, acting_user=request.user, keep_previous=not stop_previous
    )
    messages.success(
        request,
        "A new signing secret is made; the old one no longer signs."
        if stop_previous
        else "A new signing secret is made; the old one also signs for the next 24 hours.",
    )
    return redirect("alarm-webhook")


@requires(MANAGE_ALARMS)
def webhook_remove(request: AuthenticatedRequest) -> HttpResponse:
    endpoint = selectors.webhook_for(user=request.user)
    if endpoint is None:
        return redirect("alarm-webhook")
    if request.method == "POST":
        try:
            webhooks.remove_webhook(endpoint=endpoint, acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "The webhook is removed: alarm events are no longer posted.")
        return redirect("alarm-webhook")
    return render(request, "alarms/webhook_remove.html", {"endpoint": endpoint})


@requires(MANAGE_ALARMS)
def webhook_test(request: AuthenticatedRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    organisation = request.user.organisation
    assert organisation is not None
    try:
        delivery = webhooks.send_test_event(organisation=organisation, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("alarm-webhook")
    except RateLimited as exc:
        messages.error(request, exc.message)
        response = _webhook_page(request, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    messages.success(request, f"A test event ({delivery.event_id}) is on its way: its delivery is below.")
    return redirect("alarm-webhook-deliveries")


@requires(MANAGE_ALARMS)
def webhook_deliveries(request: AuthenticatedRequest) -> HttpResponse:
    page = Paginator(selectors.deliveries_for(user=request.user), PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "endpoint": selectors.webhook_for(user=request.user),
        "max_attempts": settings.WEBHOOK_MAX_ATTEMPTS,
        "retention_days": settings.ALARM_HISTORY_RETENTION_DAYS,
    }
    return render(request, "alarms/deliveries.html", context)
