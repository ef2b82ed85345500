from collections.abc import Iterator

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from accounts import selectors as account_selectors
from accounts.permissions import READ_AUDIT_TRAIL, require
from accounts.types import AuthenticatedRequest
from audit import selectors
from audit.models import AuditEvent
from audit_trail.forms import BAD_PAGE_LINK, AuditFilterForm, PageForm, position_text
from audit_trail.presentation import CSV_HEADER, FIELDS, present, present_values
from common.csv_export import csv_response

EXPORT_CHUNK = 2000


def _filtered(request: AuthenticatedRequest) -> tuple[AuditFilterForm, QuerySet[AuditEvent]]:
    require(request.user, READ_AUDIT_TRAIL)
    form = AuditFilterForm(
        request.GET or None,
        users=list(account_selectors.organisation_users(user=request.user)),
        actions=selectors.recorded_actions(user=request.user),
    )
    if not form.is_bound:
        return form, selectors.organisation_events(user=request.user)
    if not form.is_valid():
        return form, AuditEvent.objects.none()
    data = form.cleaned_data
    events = selectors.filtered_events(
        user=request.user,
        actor_id=int(data["actor"]) if data["actor"] else None,
        action=data["action"],
        target=data["target"],
        date_from=data["date_from"],
        date_to=data["date_to"],
    )
    return form, events


def audit_trail(request: AuthenticatedRequest) -> HttpResponse:
    form, events = _filtered(request)
    paging = PageForm(request.GET)
    if paging.is_valid():
        page = selectors.event_page(events, before=paging.cleaned_data["before"], after=paging.cleaned_data["after"])
    else:
        page = selectors.event_page(AuditEvent.objects.none())
    query = request.GET.copy()
    for name in ("page", "before", "after"):
        query.pop(name, None)
    context = {
        "page": page,
        "rows": [present(event) for event in page.object_list],
        "form": form,
        "query": query.urlencode(),
        "newer": position_text(page.newer) if page.newer else "",
        "older": position_text(page.older) if page.older else "",
        "page_error": BAD_PAGE_LINK if paging.errors else "",
    }
    bad = form.errors or paging.errors
    return render(request, "audit/list.html", context, status=400 if bad else 200)


def audit_export(request: AuthenticatedRequest) -> StreamingHttpResponse:
    _, events = _filtered(request)

    def rows() -> Iterator[list[str]]:
        # One query: on PostgreSQL a server-side cursor fetched EXPORT_CHUNK rows at a time, so memory
        # stays flat however long the trail (tests/audit/test_export_scale.py: 1,000,000 events).
        for values in events.values_list(*FIELDS).iterator(chunk_size=EXPORT_CHUNK):
            yield present_values(*values).cells()

    return csv_response(filename="audit-trail.csv", header=CSV_HEADER, rows=rows())
