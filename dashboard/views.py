"""The usage dashboard (the portal's home page) and the error log."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.types import AuthenticatedRequest
from dashboard import error_tickets, selectors, summary
from dashboard.export import error_log_response, usage_counters_response
from dashboard.forms import ErrorFilterForm, UsageRangeForm
from dashboard.selectors import USAGE_RANGES

EXPORT_CHUNK_ROWS = 2000
# Django refuses to redirect to an address over 16,384 characters; no real filter comes close.
MAX_QUERY_CARRIED = 4096
RANGE_REFUSED = "The dashboard shows 7, 30 or 90 days: here are the last 30."
# The range last chosen, kept in the session so that the home page (the link in the header, the
# page after login within the same session) shows it again until another is chosen.
CHOSEN_RANGE_KEY = "dashboard_days"


def home(request: AuthenticatedRequest) -> HttpResponse:
    form = UsageRangeForm(request.GET)
    if not form.is_valid():
        messages.warning(request, RANGE_REFUSED)
    # The organisation's usage and the user's own cards, each cached until what it shows changes.
    sections = summary.home_sections(user=request.user, days=_chosen_range(request, form))
    context = {
        "reminder_section": sections.reminder,
        "usage_section": sections.usage,
        "account_section": sections.account,
    }
    return render(request, "dashboard/home.html", context)


def _chosen_range(request: AuthenticatedRequest, form: UsageRangeForm) -> int:
    """The range in the address, remembered; without one, the range chosen last (30 days at first)."""
    if not form.is_valid():
        return form.chosen_days()
    if request.GET.get("days"):
        days = form.chosen_days()
        if request.session.get(CHOSEN_RANGE_KEY) != days:  # the session is written only on a change
            request.session[CHOSEN_RANGE_KEY] = days
        return days
    remembered = request.session.get(CHOSEN_RANGE_KEY)
    return remembered if remembered in USAGE_RANGES else form.chosen_days()


def error_log(request: AuthenticatedRequest) -> HttpResponse:
    user = request.user
    form = ErrorFilterForm(
        request.GET, methods=selectors.error_methods(user=user), known=lambda: selectors.known_methods(user=user)
    )
    page = None
    if form.is_valid():
        try:
            older = selectors.Cursor.parse(request.GET["older"]) if "older" in request.GET else None
            newer = selectors.Cursor.parse(request.GET["newer"]) if "newer" in request.GET else None
        except ValueError:
            messages.warning(request, "That page link is not valid: here are the newest errors.")
            older = newer = None
        errors = selectors.filtered_errors(user=user, filters=form.filters())
        page = selectors.error_page(errors, older=older, newer=newer)
    # Each row with its "Ask support" link and the tickets about it (support fills the port).
    support = error_tickets.for_rows(user=user, error_ids=[row.pk for row in page.rows]) if page else {}
    rows = [(row, support[row.pk]) for row in page.rows] if page else []
    context = {"form": form, "page": page, "rows": rows, "retention_days": settings.ERROR_LOG_RETENTION_DAYS}
    return render(request, "dashboard/errors.html", context, status=400 if page is None else 200)


def error_log_export(request: AuthenticatedRequest) -> HttpResponse | StreamingHttpResponse:
    user = request.user
    form = ErrorFilterForm(
        request.GET, methods=selectors.error_methods(user=user), known=lambda: selectors.known_methods(user=user)
    )
    if not form.is_valid():
        messages.error(request, "Correct the filters, then export again.")
        query = request.GET.urlencode()
        # Back to the page with the filters, to show what is wrong, unless they are too long to carry.
        return redirect(f"{reverse('error-log')}?{query}" if len(query) <= MAX_QUERY_CARRIED else "error-log")
    rows = (
        selectors.filtered_errors(user=user, filters=form.filters())
        .values_list("at", "method", "code", "message", "request_id", "source_ip")
        .iterator(chunk_size=EXPORT_CHUNK_ROWS)
    )
    return error_log_response(rows, today=selectors.utc_today())


def usage_export(request: AuthenticatedRequest) -> HttpResponse | StreamingHttpResponse:
    """The daily counters per method of the dashboard's range, as CSV."""
    form = UsageRangeForm(request.GET)
    if not form.is_valid():
        messages.error(request, "The usage download covers 7, 30 or 90 days: choose one of them.")
        return redirect("home")
    first_day, last_day = selectors.usage_range(days=form.chosen_days())
    rows = selectors.daily_counters(user=request.user, first_day=first_day, last_day=last_day)
    return usage_counters_response(rows.iterator(chunk_size=EXPORT_CHUNK_ROWS), first_day=first_day, last_day=last_day)
