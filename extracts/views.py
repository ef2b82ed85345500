"""The token extracts page: org admins only. It shows statuses and counts, never a token."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.permissions import TOKEN_EXTRACTS, requires
from accounts.types import AuthenticatedRequest
from extracts import selectors, services
from extracts.forms import ScheduleForm
from extracts.models import Kind

# Seconds between reloads of the page while an extract is queued or running (a Refresh header:
# no script, so nothing for the Content-Security-Policy to refuse).
REFRESH_SECONDS = 5


def _page(request: AuthenticatedRequest, form: ScheduleForm | None = None, status: int = 200) -> HttpResponse:
    extracts = selectors.recent_extracts(user=request.user)
    schedule = selectors.schedule_for(user=request.user)
    if form is None:
        initial = {"frequency": schedule.frequency} if schedule and schedule.active else {}
        form = ScheduleForm(initial=initial)
    active = next((e for e in extracts if e.is_active), None)
    context = {
        "extracts": extracts,
        "schedule": schedule,
        "form": form,
        "active": active,
        "scheduled": Kind.SCHEDULED,
        "max_attempts": services.MAX_ATTEMPTS,
        "retention_days": settings.EXTRACT_RETENTION_DAYS,
    }
    response = render(request, "extracts/list.html", context, status=status)
    if active is not None:
        response["Refresh"] = str(REFRESH_SECONDS)
    return response


@requires(TOKEN_EXTRACTS)
def extract_list(request: AuthenticatedRequest) -> HttpResponse:
    return _page(request)


@require_POST
@requires(TOKEN_EXTRACTS)
def extract_request(request: AuthenticatedRequest) -> HttpResponse:
    try:
        services.request_extract(acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, "Your token extract is queued. This page shows its progress; admins get an email when it is ready."
        )
    return redirect("extract-list")


@require_POST
@requires(TOKEN_EXTRACTS)
def schedule_set(request: AuthenticatedRequest) -> HttpResponse:
    form = ScheduleForm(request.POST)
    if form.is_valid():
        try:
            schedule = services.set_schedule(
                acting_user=request.user,
                frequency=form.cleaned_data["frequency"],
                first_run_at=form.cleaned_data["first_run_at"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                f"{schedule.get_frequency_display()} token extracts are scheduled; "
                f"the next one starts {timezone.localtime(schedule.next_run_at):%d %b %Y, %H:%M}.",
            )
            return redirect("extract-list")
    return _page(request, form=form, status=400)


@require_POST
@requires(TOKEN_EXTRACTS)
def schedule_cancel(request: AuthenticatedRequest) -> HttpResponse:
    try:
        services.cancel_schedule(acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "The extract schedule is cancelled. Extracts already made stay in the File Manager.")
    return redirect("extract-list")
