"""The token extracts page: org admins only. It shows statuses and counts, never a token; and the
page where admins set the public key extracts are encrypted to (after confirming their password)."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.utils.formats import number_format
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.permissions import EXTRACT_KEY, TOKEN_EXTRACTS, requires
from accounts.reauth import recent_password_required
from accounts.types import AuthenticatedRequest
from common.dates import shown
from extracts import encryption, selectors, services
from extracts.forms import ExtractKeyForm, ScheduleForm
from extracts.models import ExtractRequest, Kind, Status

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
        # While an extract runs, the count it took of the vault (the page reloads every few seconds).
        "vault_count": active.rows_total
        if active is not None and active.rows_total is not None
        else selectors.vault_token_count(user=request.user),
        "columns": selectors.extract_columns(),
        "scheduled": Kind.SCHEDULED,
        "max_attempts": services.MAX_ATTEMPTS,
        "retention_days": settings.EXTRACT_RETENTION_DAYS,
        "extract_key": selectors.extract_key_for(user=request.user),
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
        extract = services.request_extract(acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        _say_how_it_stands(request, extract)
    return redirect("extract-list")


def _say_how_it_stands(request: AuthenticatedRequest, extract: ExtractRequest) -> None:
    """The message after a request, as the extract stands now: without Redis the worker runs it
    before this line, with Redis it may be queued, running or done by now."""
    extract.refresh_from_db()
    if extract.status == Status.DONE and extract.file is not None:
        rows = number_format(extract.rows_written, force_grouping=True)
        messages.success(
            request,
            f"Your token extract is ready: {rows} token{pluralize(extract.rows_written)} in {extract.file.name}, "
            "in the File Manager's Token extracts section. Admins get an email about it too.",
        )
    elif extract.status == Status.FAILED:
        messages.error(request, f"Your token extract failed. {extract.failure_reason}")
    elif extract.status == Status.RUNNING:
        messages.success(
            request,
            "Your token extract is being written now. This page shows its progress; "
            "admins get an email when it is ready.",
        )
    else:
        messages.success(
            request,
            "Your token extract is queued: a worker starts it shortly. This page shows its progress; "
            "admins get an email when it is ready.",
        )


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
                f"the next one starts {shown(schedule.next_run_at)}.",
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


# --- The key extracts are encrypted to ---------------------------------------------------------


@never_cache
@requires(EXTRACT_KEY)
def extract_key(request: AuthenticatedRequest) -> HttpResponse:
    return _key_page(request)


@recent_password_required
def _key_page(request: AuthenticatedRequest) -> HttpResponse:
    form = ExtractKeyForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            key = services.set_extract_key(acting_user=request.user, recipient=form.cleaned_data["recipient"])
        except ValidationError as exc:
            form.show_service_error(exc)
        else:
            messages.success(
                request,
                f"Extracts are encrypted to {key.short_form} from now on. Every admin gets an email about it.",
            )
            return redirect("extract-key")
    context = {
        "key": selectors.extract_key_for(user=request.user),
        "form": form,
        "keygen_command": "age-keygen -o your-key.txt",
        "decrypt_command": encryption.decrypt_command("token-extract-….csv.gz.age"),
    }
    return render(request, "extracts/key.html", context, status=400 if form.is_bound else 200)


@never_cache
@requires(EXTRACT_KEY)
def extract_key_remove(request: AuthenticatedRequest) -> HttpResponse:
    return _key_remove(request)


@recent_password_required
def _key_remove(request: AuthenticatedRequest) -> HttpResponse:
    key = selectors.extract_key_for(user=request.user)
    if key is None:
        messages.error(request, "Extracts are not encrypted: there is no key to remove.")
        return redirect("extract-key")
    if request.method == "POST":
        try:
            services.remove_extract_key(acting_user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "The key is removed: extracts from now on are plain gzip CSV files.")
        return redirect("extract-key")
    return render(request, "extracts/key_remove.html", {"key": key})
